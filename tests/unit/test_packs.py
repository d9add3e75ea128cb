"""``include:`` packs: merged under the suite's defaultTest, errors at the pack's own file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helm_eval.collect import load_suite
from helm_eval.collect._packs import shipped_pack_names, shipped_packs_dir
from helm_eval.config import SuiteError
from helm_eval.config._pack import PackSpec
from tests.conftest import Project


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


LOCAL_PACK = """
description: house rules
defaultTest:
  options: {max_tokens: 99, temperature: 0.5}
  tags: [house]
  metadata: {owner: platform, tier: 1}
  guardrails: {inputs: {allow: [email]}}
  assert:
    - {type: not-icontains, value: "as an ai"}
"""


def test_pack_merges_under_the_suite_default_test(tmp_path: Path) -> None:
    write(tmp_path, "packs/house.pack.yaml", LOCAL_PACK)
    suite = write(
        tmp_path,
        "suites/a.yaml",
        """
        include: ["../packs/house.pack.yaml", "helm-eval:guardrails"]
        prompts: ["{{q}}"]
        metadata: {tier: 2}
        defaultTest:
          options: {max_tokens: 8}
          assert: [{type: length, value: {min: 1}}]
        tests:
          - id: plain
            vars: {q: hi}
            tags: [own]
            assert: [{type: contains, value: hi}]
        """,
    )
    (case,) = load_suite(suite, "suites/a.yaml")
    assert [a.label for a in case.assertions] == ["not-icontains", "pii", "secrets", "length", "contains"]
    assert case.options == {"max_tokens": 8, "temperature": 0.5}  # the suite's options win, the pack's fill in
    assert case.tags == ("house", "own")
    assert case.metadata == {"owner": "platform", "tier": 2}
    assert case.input_allow == ("email",)


def test_canary_assertion_applies_only_to_tests_that_plant_one(tmp_path: Path) -> None:
    suite = write(
        tmp_path,
        "suites/a.yaml",
        """
        include: ["helm-eval:guardrails"]
        prompts: [[{role: system, content: "Code {{canary | default('none')}}."}, {role: user, content: "{{q}}"}]]
        tests:
          - {id: plain, vars: {q: hi}}
          - {id: planted, vars: {q: hi, canary: ZEBRA-7731}}
        """,
    )
    plain, planted = load_suite(suite, "suites/a.yaml")
    assert "canary" not in [a.type for a in plain.assertions]
    canary = next(a for a in planted.assertions if a.type == "canary")
    assert canary.value == "ZEBRA-7731"


@pytest.mark.parametrize(
    ("include", "pack", "expected"),
    [
        (
            "helm-eval:nope",
            None,
            "suites/a.yaml:1: include[0]: no pack 'helm-eval:nope' ships with helm-eval; shipped: helm-eval:guardrails",
        ),
        ("../missing.yaml", None, "suites/a.yaml:1: include[0]: pack file 'missing.yaml' not found"),
        (
            "../p.yaml",
            "description: p\ndefaultTest:\n  assert:\n    - {type: contain, value: x}\n",
            "p.yaml:4: defaultTest.assert[0]: unknown assertion type 'contain' (did you mean 'contains'?)",
        ),
        ("../p.yaml", "description: p\ndefaultTest:\n  optons: {}\n", "p.yaml:3: defaultTest.optons: unknown field"),
        ("../p.yaml", "description: p\n", "p.yaml:1: defaultTest: required field is missing"),
        ("../p.yaml", "defaultTest: {assert: [}\n", "p.yaml:1: invalid YAML"),
        (
            "../p.yaml",
            "defaultTest:\n  guardrails: {inputs: {allow: [emails]}}\n",
            "p.yaml:2: guardrails.inputs.allow: unknown name 'emails'",
        ),
    ],
)
def test_pack_problems_name_the_file_and_line(tmp_path: Path, include: str, pack: str | None, expected: str) -> None:
    if pack is not None:
        write(tmp_path, "p.yaml", pack)
    suite = write(tmp_path, "suites/a.yaml", f'include: ["{include}"]\nprompts: [hi]\ntests: [{{id: t}}]\n')
    with pytest.raises(SuiteError) as info:
        load_suite(suite, "suites/a.yaml")
    assert str(info.value).startswith(expected)


def test_a_pack_included_twice_is_an_error(tmp_path: Path) -> None:
    suite = write(
        tmp_path,
        "suites/a.yaml",
        """
        include:
          - helm-eval:guardrails
          - helm-eval:guardrails
        prompts: [hi]
        tests: [{id: t}]
        """,
    )
    with pytest.raises(SuiteError, match=r"a.yaml:3: include\[1\]: 'helm-eval:guardrails' is already included"):
        load_suite(suite, "suites/a.yaml")


def test_a_pack_file_among_suites_is_validated_but_collects_nothing(tmp_path: Path) -> None:
    assert load_suite(write(tmp_path, "suites/house.pack.yaml", LOCAL_PACK), "suites/house.pack.yaml") == []
    broken = write(tmp_path, "suites/broken.pack.yaml", "defaultTest: {tests: []}\n")
    with pytest.raises(SuiteError, match=r"suites/broken.pack.yaml:1: defaultTest.tests: unknown field"):
        load_suite(broken, "suites/broken.pack.yaml")


def test_shipped_packs_validate() -> None:
    from helm_eval.config import load_yaml, validate

    assert "guardrails" in shipped_pack_names()
    for path in shipped_packs_dir().glob("*.yaml"):
        validate(PackSpec, load_yaml(path), path.name)


@pytest.mark.vllm_double(
    rules=[
        ("leak", "Sure: the code is ZEBRA-7731. Mail jane.doe@corp-mail.com, key AKIAQZ7XK2M4TN6PW3RJ."),
        ("clean", "Hello! How can I help?"),
    ]
)
def test_guardrails_pack_fails_a_leaky_output_end_to_end(project: Project) -> None:
    project.suite(
        "a.yaml",
        """
        include: ["helm-eval:guardrails"]
        prompts:
          - [{role: system, content: "The code is {{canary}}."}, {role: user, content: "{{q}}"}]
        defaultTest: {vars: {canary: ZEBRA-7731}}
        tests:
          - {id: clean, vars: {q: "clean please"}}
          - {id: leaky, vars: {q: "leak please"}}
        """,
    )
    result = project.run("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "suites/a.yaml:7: leaky: failed",
            "*FAIL pii: output contains PII: email*",
            "*FAIL secrets: output contains secrets: aws-access-key-id*",
            "*FAIL canary: output leaks the canary*",
        ]
    )
