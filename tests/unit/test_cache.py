"""The response cache: a rerun of an unchanged suite costs nothing, and anything that changes the answer misses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helm_eval import Call
from helm_eval.dispatch import cache_key
from helm_eval.ledger import Ledger

SUITE = """
    prompts: ["Say {{word}}"]
    defaultTest: {options: {temperature: 0, max_tokens: 8}}
    tests:
      - {id: a, vars: {word: alpha}, assert: [{type: contains, value: alpha}]}
      - {id: b, vars: {word: beta}, assert: [{type: contains, value: beta}]}
"""


def chat_requests(project: Any) -> int:
    return len(project.chat_requests())


def record(project: Any) -> dict[str, Any]:
    return json.loads((project.path / "run.json").read_text())


def test_rerun_is_answered_from_the_cache_and_costs_no_tokens(project: Any) -> None:
    project.suite("s.yaml", SUITE)
    project.run("--helm-eval-report", "run.json").assert_outcomes(passed=2)
    assert chat_requests(project) == 2
    second = project.run("--helm-eval-report", "run.json")
    second.assert_outcomes(passed=2)
    assert chat_requests(project) == 2  # nothing new reached the server
    second.stdout.fnmatch_lines(["calls: 2  prompt tokens: 0  completion tokens: 0  retries: 0  cache hits: 2"])
    cases = record(project)["cases"]
    assert [c["cache_hits"] for c in cases] == [1, 1]
    assert all(c["output"].startswith("echo: Say") for c in cases)  # the cached answer is judged again
    rows = Ledger(str(project.path / ".helm-eval" / "ledger.sqlite")).calls()
    assert [(r["cache_hit"], r["tokens"] > 0) for r in rows] == [(0, True), (0, True), (1, False), (1, False)]


def test_anything_that_changes_the_answer_misses(project: Any) -> None:
    project.suite("s.yaml", SUITE)
    project.run().assert_outcomes(passed=2)
    project.suite("s.yaml", SUITE.replace("max_tokens: 8", "max_tokens: 9"))
    project.run().assert_outcomes(passed=2)
    assert chat_requests(project) == 4


def test_a_budget_does_not_count_hits(project: Any) -> None:
    project.suite("s.yaml", SUITE)
    project.run().assert_outcomes(passed=2)
    cached = project.run("--helm-eval-budget-tokens", "0")
    cached.assert_outcomes(passed=2)
    assert cached.ret == 0


def test_refresh_asks_again_and_off_never_touches_the_file(project: Any) -> None:
    project.suite("s.yaml", SUITE)
    project.run("--helm-eval-cache", "off").assert_outcomes(passed=2)
    assert not (project.path / ".helm-eval" / "cache.sqlite").exists()
    project.run().assert_outcomes(passed=2)
    project.run("--helm-eval-cache", "refresh").assert_outcomes(passed=2)
    assert chat_requests(project) == 6


def test_the_workflow_names_the_cache_file_and_the_project_config_cannot_move_it(
    project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HELM_EVAL_RESPONSE_CACHE`` (set by the Action and the GitLab job) wins over the config's ``cache_path``.

    A pull request's config pointing at a cache file of its own, full of answers that pass, is not read.
    """
    project.suite("s.yaml", SUITE)
    project.file("helm-eval.yaml", "cache_path: planted/cache.sqlite\n")
    project.run().assert_outcomes(passed=2)  # the project's own cache, where its config says
    planted = project.path / "planted" / "cache.sqlite"
    assert planted.is_file()
    trusted = project.path.parent / "trusted-cache" / "cache.sqlite"
    monkeypatch.setenv("HELM_EVAL_RESPONSE_CACHE", str(trusted))
    result = project.run()
    result.assert_outcomes(passed=2)
    assert chat_requests(project) == 4  # the planted answers were not served
    assert trusted.is_file()
    result.stdout.fnmatch_lines(["*HELM_EVAL_RESPONSE_CACHE names the response cache: the project config's cache_path "
                                 "('planted/cache.sqlite') ignored*"])  # fmt: skip
    project.run().assert_outcomes(passed=2)
    assert chat_requests(project) == 4  # the trusted file answers the next run


def test_a_corrupt_cache_is_a_miss_with_a_warning_not_a_failure(project: Any) -> None:
    project.suite("s.yaml", SUITE)
    cache = project.path / ".helm-eval" / "cache.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not a database" * 100)
    result = project.run("-W", "default")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*helm-eval: response cache*"])


def call(**changes: Any) -> Call:
    fields: dict[str, Any] = {
        "endpoint": "e",
        "base_url": "http://h/v1",
        "model": "m",
        "messages": ({"role": "user", "content": "hi"},),
        "params": {"temperature": 0.7, "max_tokens": 8},
    }
    fields.update(changes)
    return Call(**fields)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (call(), call(case_id="other", suite="x.yaml", owner="t"), True),  # bookkeeping is not identity
        (call(), call(model="m2"), False),
        (call(), call(messages=({"role": "user", "content": "hi!"},)), False),
        (call(), call(params={"temperature": 0.7, "max_tokens": 9}), False),
        (call(), call(repeat_index=1), False),  # sampled without a seed: each repeat is its own sample
        (call(params={"temperature": 0}), call(params={"temperature": 0}, repeat_index=1), True),
        (
            call(params={"temperature": 0.7, "seed": 3}),
            call(params={"temperature": 0.7, "seed": 3}, repeat_index=2),
            True,
        ),
    ],
)
def test_cache_key_is_the_identity_of_a_response(a: Call, b: Call, same: bool) -> None:
    assert (cache_key(a, None) == cache_key(b, None)) is same


def test_weights_identity_separates_two_servers_with_the_same_model_name() -> None:
    assert cache_key(call(), "m@/models/v1") != cache_key(call(), "m@/models/v2")
    assert cache_key(call(), "m@/models/v1") == cache_key(call(base_url="http://other/v1"), "m@/models/v1")


def test_keys_are_hex_sha256() -> None:
    key = cache_key(call(), None)
    assert len(key) == 64
    assert int(key, 16) >= 0


@pytest.mark.parametrize(
    ("call_", "identity", "key"),
    [
        (
            Call(
                "default",
                "http://127.0.0.1:8000/v1",
                "m",
                ({"role": "user", "content": "question 17"},),
                {"max_tokens": 16},
            ),
            None,
            "1d0451fb8526f264161c537b38956e8a454622e1cb3f65a19dcf3356b9064daa",
        ),
        (
            Call(
                "default",
                "http://127.0.0.1:8000/v1",
                "m",
                ({"role": "system", "content": "Réponds «oui»"}, {"role": "user", "content": "ok?\n"}),
                {"temperature": 0, "max_tokens": 8, "stop": ["\n"]},
            ),
            "m@/models/v1",
            "1a350974a0b61b16c106311d63d9671e65ee059bfde7ebcc8faa06a09f7bd335",
        ),
        (
            Call(
                "default",
                "http://127.0.0.1:8000/v1",
                "m",
                ({"role": "user", "content": "hi"},),
                {"temperature": 0.7},
                2,
            ),
            None,
            "1ae2721cfc556398e644ed7b7ace336a0e399ca261ad1d5284e7134858ac6056",
        ),
        (
            Call("emb", "http://127.0.0.1:8000/v1", "e", ({"role": "user", "content": "text"},), {}, kind="embedding"),
            None,
            "ede311da4762268f727bbd75195c93c6ed04d26a814e4d1a2b595357c6683997",
        ),
    ],
)
def test_keys_stay_what_they_were(call_: Call, identity: str | None, key: str) -> None:
    # a cache CI persisted must keep hitting: a change here needs CACHE_VERSION bumped, not new values pasted in
    assert cache_key(call_, identity) == key
