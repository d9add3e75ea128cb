"""Hostile model output: bidi overrides made visible in every report, broken Unicode cleaned at the boundary."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest
from aiohttp import web

from helm_eval import Call, CaseResult, Outcome, RunRecord, Verdict
from helm_eval._http import SessionTransport
from helm_eval._text import clean_text, excerpt, inert, quote
from helm_eval.dispatch import Endpoint
from helm_eval.dispatch._client import ChatClient
from helm_eval.report._github import annotate
from helm_eval.report._markdown import code_block, md_text, render
from tests.conftest import Project

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Every bidirectional formatting character (Unicode's Bidi_Control property)."""
TROJAN = "ok \u202eevil\u202c \u2067rtl\u2069 done"


def _hidden(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if c in BIDI]


@pytest.mark.parametrize("char", list(BIDI), ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_every_bidi_control_is_escaped_visibly(char: str) -> None:
    shown = inert(f"a{char}b")
    assert shown == f"a\\u{ord(char):04x}b"
    assert not _hidden(quote(f"a{char}b"))
    assert not _hidden(excerpt(f"a{char}b"))


def test_other_unicode_is_left_alone() -> None:
    text = "naïve 日本語 עברית مرحبا 👩\u200d💻 tab\tnewline\n"
    assert inert(text) == text


def test_bidi_overrides_never_reach_annotations_summary_or_comment() -> None:
    verdict = Verdict("contains", "fail", f"output does not contain 'x': {TROJAN!r}")
    fields: dict[str, Any] = {"line": 3, "repeats": 1, "passes": 0, "output": TROJAN, "verdicts": [verdict]}
    case = CaseResult(f"suites/a.yaml::{TROJAN}", "suites/a.yaml", status="failed", suite="suites/a.yaml", **fields)
    record = RunRecord(cases=[case], started_at=1.0, finished_at=2.0)
    out = io.StringIO()
    annotate(record, out)
    for text in (out.getvalue(), render(record, title=f"run {TROJAN}"), md_text(TROJAN), code_block(TROJAN)):
        assert _hidden(text) == [], text
        assert "\\u202e" in text or "&#92;u202e" in text  # md_text writes the backslash as a reference


# -- broken Unicode in a model's answer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cleaned", "count"),
    [
        ("plain", "plain", 0),
        ("naïve 👩\u200d💻 \ufffd", "naïve 👩\u200d💻 \ufffd", 0),
        ("a\ud800b", "a\ufffdb", 1),
        ("\udfff\ud83d", "\ufffd\ufffd", 2),
    ],
)
def test_clean_text_replaces_lone_surrogates(text: str, cleaned: str, count: int) -> None:
    assert clean_text(text) == (cleaned, count)
    clean_text(text)[0].encode("utf-8")


BROKEN_BODY = (
    b'{"model": "m\\udc00", "choices": [{"message": {"content": "ok \xff\xfe \\ud800 done"}, "finish_reason": "stop"}],'
    b' "usage": {"prompt_tokens": 3, "completion_tokens": 4}}'
)
BROKEN_ERROR = b'{"error": {"message": "bad \\ud800 request \xc3"}}'


def _serve_and_call(body: bytes, status: int) -> tuple[Outcome, int]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type="application/json")

    async def main() -> tuple[Outcome, int]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as session:
                client = ChatClient(SessionTransport(session), retries=0)
                endpoint = Endpoint("local", f"http://127.0.0.1:{port}/v1", "m", None, 1, 5.0)
                call = Call("local", "unused", "m", ({"role": "user", "content": "hi"},), {})
                outcome = await client.chat(endpoint, call, asyncio.Semaphore(1))
                return outcome, client.replaced_chars
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_invalid_utf8_and_lone_surrogates_in_an_answer_become_replacement_characters() -> None:
    outcome, replaced = _serve_and_call(BROKEN_BODY, 200)
    assert outcome.ok, outcome.error
    assert outcome.text == "ok \ufffd\ufffd \ufffd done"
    assert outcome.model == "m\ufffd"
    assert replaced == 4
    json.dumps(dataclasses.asdict(outcome), ensure_ascii=False).encode("utf-8")


def test_an_error_body_with_broken_unicode_gives_an_encodable_error() -> None:
    outcome, _ = _serve_and_call(BROKEN_ERROR, 400)
    assert outcome.error is not None
    assert outcome.error.startswith("HTTP 400: bad \ufffd request")
    outcome.error.encode("utf-8")


@pytest.mark.vllm_double(answer=lambda body: "Paris \ud800 is the capital")
def test_a_lone_surrogate_in_an_answer_does_not_crash_the_reports(project: Project) -> None:
    """The double answers with the JSON escape ``"\\ud800"``; the run finishes and writes its record and JUnit."""
    project.suite(
        "x.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - {id: capital, vars: {q: France}, assert: [{type: contains, value: Paris}]}
          - {id: wrong, vars: {q: Germany}, assert: [{type: contains, value: Berlin}]}
        """,
    )
    result = project.run("--helm-eval-report", "run.json", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "UnicodeEncodeError" not in output
    assert "INTERNALERROR" not in output
    assert [case["output"] for case in project.record()["cases"]] == ["Paris \ufffd is the capital"] * 2
    junit = ElementTree.parse(project.path / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == 2
    assert "\ufffd" in (project.path / "junit.xml").read_text(encoding="utf-8")
