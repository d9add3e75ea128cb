"""A cached answer cannot outlive its model: weights identity in the key, a TTL, pruning, and replay-only runs."""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval import Call, Outcome
from helm_eval.cli import main
from helm_eval.config import load_project_config
from helm_eval.dispatch import CACHE_VERSION, Endpoint, ResponseCache, cache_key
from helm_eval.ledger import Ledger
from helm_eval.plan import local_weights
from helm_eval.serve import weights_digest
from tests.conftest import Project

SUITE = """
    prompts: ["Say {{word}}"]
    defaultTest: {options: {temperature: 0, max_tokens: 8}}
    tests:
      - {id: a, vars: {word: alpha}, assert: [{type: contains, value: alpha}]}
      - {id: b, vars: {word: beta}, assert: [{type: contains, value: beta}]}
"""


def write_safetensors(path: Path, tensors: dict[str, bytes]) -> None:
    """A minimal safetensors file: 8-byte header length, JSON header, then the tensors' bytes."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, data in tensors.items():
        header[name] = {"dtype": "U8", "shape": [len(data)], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + b"".join(tensors.values()))


def model_dir(path: Path, fill: int = 1) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (path / "tokenizer.json").write_text('{"model": {"vocab": {}}}')
    write_safetensors(path / "model.safetensors", {"embed": bytes([fill]) * 40_000, "norm": b"\x01" * 64})
    return path


def call(**changes: Any) -> Call:
    fields: dict[str, Any] = {
        "endpoint": "e",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "m",
        "messages": ({"role": "user", "content": "hi"},),
        "params": {"temperature": 0, "max_tokens": 8},
    }
    return Call(**{**fields, **changes})


def endpoint(**changes: Any) -> Endpoint:
    return Endpoint(**{"name": "e", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": None,
                       "max_concurrency": 1, "timeout": 5.0, **changes})  # fmt: skip


# -- the weights digest ---------------------------------------------------------------------------------------


def test_the_digest_follows_the_weights_not_their_place_or_age(tmp_path: Path) -> None:
    original = weights_digest(model_dir(tmp_path / "a"))
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "a", copy)  # new mtimes, another path
    (copy / ".helm-eval-complete").write_text("{}")
    (copy / "README.md").write_text("notes")
    assert weights_digest(copy) == original
    assert weights_digest(model_dir(tmp_path / "tuned", fill=2)) != original  # same names, shapes and sizes


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (d / "config.json").write_text('{"architectures": ["Other"]}'),
        lambda d: (d / "generation_config.json").write_text('{"temperature": 0.6}'),
        lambda d: (d / "tokenizer.json").write_text('{"model": {"vocab": {"a": 1}}}'),
        lambda d: write_safetensors(d / "model.safetensors", {"embed": b"\x01" * 40_000, "norm": b"\x02" * 64}),
    ],
    ids=["config", "generation-config", "tokenizer", "one-small-tensor"],
)
def test_the_digest_changes_with_what_vllm_loads(tmp_path: Path, change: Any) -> None:
    directory = model_dir(tmp_path / "m")
    before = weights_digest(directory)
    change(directory)
    assert weights_digest(directory) != before


def test_a_change_in_the_middle_of_a_tensor_is_seen(tmp_path: Path) -> None:
    directory = model_dir(tmp_path / "m")
    before = weights_digest(directory)
    weights = bytearray((directory / "model.safetensors").read_bytes())
    header = 8 + struct.unpack("<Q", weights[:8])[0]
    weights[header + 20_000] ^= 0xFF  # the middle window of the 40 kB tensor
    (directory / "model.safetensors").write_bytes(weights)
    assert weights_digest(directory) != before


# -- identity in the key --------------------------------------------------------------------------------------


def test_identity_prefers_a_stated_revision_then_a_digest_then_the_path() -> None:
    root = {"m": "/models/m"}
    assert endpoint().identity("m") is None
    assert endpoint(roots=root).identity("m") == "m@/models/m"
    assert endpoint(roots=root, digests={"m": "sha256:1"}).identity("m") == "m#sha256:1"
    assert endpoint(roots=root, digests={"m": "sha256:1"}, revision="r1").identity("m") == "m#revision=r1"


def test_only_a_local_server_has_local_weights(tmp_path: Path) -> None:
    directory = model_dir(tmp_path / "m")
    roots = {"m": str(directory)}
    assert local_weights(endpoint(roots=roots), "m") == directory
    assert local_weights(endpoint(roots=roots, base_url="http://localhost:8000/v1"), "m") == directory
    assert local_weights(endpoint(roots=roots, base_url="http://gpu-box:8000/v1"), "m") is None
    assert local_weights(endpoint(roots={"m": "Qwen/Qwen2.5-0.5B"}), "m") is None


def test_same_name_and_path_with_other_weights_is_another_key() -> None:
    root = {"m": "/models/m"}
    one = endpoint(roots=root, digests={"m": "sha256:1"}).identity("m")
    two = endpoint(roots=root, digests={"m": "sha256:2"}).identity("m")
    assert cache_key(call(), one) != cache_key(call(), two)
    assert cache_key(call(), endpoint(revision="a").identity("m")) != cache_key(
        call(), endpoint(revision="b").identity("m")
    )


def test_weights_updated_in_place_are_asked_again(pytester: pytest.Pytester) -> None:
    weights = model_dir(pytester.path.parent / "weights")
    with VLLMDouble(model=str(weights)) as double:  # served name and root: the path, as `vllm serve PATH` does
        project = Project(pytester, double)
        project.suite("s.yaml", SUITE)
        project.run().assert_outcomes(passed=2)
        project.run().assert_outcomes(passed=2)
        assert len(project.chat_requests()) == 2  # the same weights: answered from the cache
        model_dir(weights, fill=7)  # a new model under the same name and path
        project.run().assert_outcomes(passed=2)
        assert len(project.chat_requests()) == 4


def test_weights_that_cannot_be_read_are_a_warning_and_keyed_by_path(pytester: pytest.Pytester) -> None:
    empty = pytester.path.parent / "no-weights"
    empty.mkdir()
    with VLLMDouble(model=str(empty)) as double:
        project = Project(pytester, double)
        project.suite("s.yaml", SUITE)
        result = project.run("-W", "default")
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines([f"*response cache: cannot digest the weights in {empty} (*no model files)*"])
        project.run().assert_outcomes(passed=2)
        assert len(project.chat_requests()) == 2


def test_a_new_revision_invalidates_the_old_answers(project: Project) -> None:
    project.suite("s.yaml", SUITE)
    config = "endpoints:\n  default: {{url: {url}, revision: '{revision}'}}\n"
    project.file("helm-eval.yaml", config.format(url=project.base_url, revision="2026-11-20"))
    project.run(endpoint=False).assert_outcomes(passed=2)
    project.run(endpoint=False).assert_outcomes(passed=2)
    assert len(project.chat_requests()) == 2
    project.file("helm-eval.yaml", config.format(url=project.base_url, revision="2026-12-01"))
    project.run(endpoint=False).assert_outcomes(passed=2)
    assert len(project.chat_requests()) == 4


@pytest.mark.parametrize(("written", "revision"), [("2026-11-20", "2026-11-20"), ("'v2'", "v2"), ("3", "3")])
def test_a_revision_is_read_as_written(tmp_path: Path, written: str, revision: str) -> None:
    config = tmp_path / "helm-eval.yaml"
    config.write_text(f"endpoints:\n  default: {{url: 'http://127.0.0.1:1/v1', revision: {written}}}\n")
    assert load_project_config(config).endpoints["default"].revision == revision


# -- TTL and pruning ------------------------------------------------------------------------------------------


def age(cache: Path, seconds: float) -> None:
    with sqlite3.connect(cache) as conn:
        conn.execute("UPDATE responses SET created = created - ?", (seconds,))
    conn.close()


def test_an_answer_older_than_the_ttl_is_asked_again(project: Project) -> None:
    project.suite("s.yaml", SUITE)
    project.file("helm-eval.yaml", "cache_ttl: 1h\n")
    project.run().assert_outcomes(passed=2)
    age(project.path / ".helm-eval" / "cache.sqlite", 1800)
    project.run().assert_outcomes(passed=2)
    assert len(project.chat_requests()) == 2  # half an hour old: served
    age(project.path / ".helm-eval" / "cache.sqlite", 3600)
    project.run().assert_outcomes(passed=2)
    assert len(project.chat_requests()) == 4  # expired: asked again, and the fresh answers replace them
    project.run().assert_outcomes(passed=2)
    assert len(project.chat_requests()) == 4


def test_a_bad_ttl_is_a_config_error_naming_the_field(project: Project) -> None:
    project.suite("s.yaml", SUITE)
    project.file("helm-eval.yaml", "cache_ttl: 1 week\n")
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*cache_ttl*'1 week' is not a duration*"])


def test_the_cache_expires_by_stored_time(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    writer = ResponseCache(path)
    writer.put("k", Outcome("answer", 1, 1))
    writer.close()
    assert ResponseCache(path, ttl=60).get("k") is not None
    age(path, 120)
    reader = ResponseCache(path, ttl=60)
    assert reader.get("k") is None
    assert reader.expired == 1
    assert ResponseCache(path).get("k") is not None  # no TTL: forever


def filled_cache(path: Path) -> None:
    cache = ResponseCache(path)
    for index in range(30):
        cache.put(f"old{index}", Outcome("x" * 2000, 1, 1))
    cache.close()
    age(path, 10 * 86400)
    cache = ResponseCache(path)
    cache.put("new", Outcome("fresh", 1, 1))
    cache.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO responses VALUES ('v0', ?, ?, '{}')", (CACHE_VERSION - 1, time.time()))
    conn.close()


def test_prune_removes_old_and_stale_answers_and_reports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    filled_cache(tmp_path / ".helm-eval" / "cache.sqlite")
    assert main(["cache", "stats"]) == 0
    stats = capsys.readouterr().out
    assert "31 entries" in stats  # the stale one is not counted
    assert "(10d ago)" in stats.split("newest")[0]
    assert "stale (an older key version, never served): 1" in stats
    assert main(["cache", "prune", "--older-than", "7d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("removed 31 entries and ")
    assert "bytes from .helm-eval/cache.sqlite (older than 7d, or stale); 1 entries (" in out
    freed = int(out.split(" and ")[1].split(" bytes")[0].replace(",", ""))
    assert freed > 30 * 2000  # VACUUM gave the space back
    cache = ResponseCache(tmp_path / ".helm-eval" / "cache.sqlite")
    assert cache.get("new") is not None
    assert cache.get("old0") is None


def test_prune_defaults_to_the_configured_ttl_and_takes_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    filled_cache(tmp_path / "elsewhere.sqlite")
    (tmp_path / "helm-eval.yaml").write_text("cache_ttl: 2d\n")
    assert main(["cache", "stats", "--cache", "elsewhere.sqlite"]) == 0
    assert "cache_ttl: 2d; 30 entries older than that are misses until pruned" in capsys.readouterr().out
    assert main(["cache", "prune", "--cache", "elsewhere.sqlite"]) == 0
    assert "from elsewhere.sqlite (older than 2d, or stale)" in capsys.readouterr().out
    assert main(["cache", "prune", "--cache", "missing.sqlite"]) == 0
    assert "no response cache at missing.sqlite" in capsys.readouterr().out


def test_prune_names_a_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["cache", "prune", "--older-than", "soon"])
    assert "argument --older-than: 'soon' is not a duration" in capsys.readouterr().err


# -- replay-only ----------------------------------------------------------------------------------------------


def test_replay_only_answers_from_the_cache_and_never_sends_a_miss(project: Project) -> None:
    project.suite("s.yaml", SUITE)
    project.run().assert_outcomes(passed=2)
    assert len(project.chat_requests()) == 2
    project.suite("s.yaml", SUITE + "      - {id: c, vars: {word: gamma}, assert: [{type: contains, value: gamma}]}\n")
    result = project.run("--helm-eval-cache", "replay-only", "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=2, errors=1)
    assert len(project.chat_requests()) == 2  # the miss was not sent
    result.stdout.fnmatch_lines(["*suites/s.yaml:6: c: * the response cache has no answer for this call*"])
    statuses = {c["nodeid"].rsplit("::", 1)[1]: (c["status"], c["cache_hits"]) for c in project.record()["cases"]}
    assert statuses == {"a": ("passed", 1), "b": ("passed", 1), "c": ("error", 0)}
    rows = Ledger(str(project.path / ".helm-eval" / "ledger.sqlite")).calls()
    assert sum(r["tokens"] for r in rows[2:]) == 0  # a replay costs nothing, the miss included


def test_replay_only_from_the_config(project: Project) -> None:
    project.suite("s.yaml", SUITE)
    project.file("helm-eval.yaml", "cache: replay-only\n")
    project.run().assert_outcomes(errors=2)
    assert project.chat_requests() == []


def test_replay_only_needs_no_server_when_the_model_and_revision_are_known(project: Project) -> None:
    project.suite("s.yaml", SUITE)
    assert project.double is not None
    project.file(
        "helm-eval.yaml", "endpoints:\n  default: {url: 'http://127.0.0.1:9/v1', model: double-model, revision: r1}\n"
    )
    project.run().assert_outcomes(passed=2)  # the double, named on the command line, answers once
    dead = "http://127.0.0.1:9/v1"  # nothing listens there: a replay-only run must not need it
    result = project.pytester.runpytest(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", dead, "--helm-eval-cache", "replay-only"
    )
    result.assert_outcomes(passed=2)


def test_response_format_is_part_of_the_cache_key() -> None:
    plain = Call("judge", "http://h/v1", "m", ({"role": "user", "content": "grade"},), {"temperature": 0})
    schema = {"type": "json_schema", "json_schema": {"name": "v", "schema": {"type": "object"}}}
    structured = Call("judge", "http://h/v1", "m", plain.messages, {"temperature": 0, "response_format": schema})
    assert cache_key(plain, None) != cache_key(structured, None)
