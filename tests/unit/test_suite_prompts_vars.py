"""Prompts from files (``file://p.txt``, ``.json`` chat lists), the ``load``/``dump`` filters, and var arrays."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helm_eval.collect import Renderer, TemplateProblem, load_suite
from helm_eval.config import SuiteError
from tests.conftest import Project


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(root: Path, suite: str) -> list:
    return load_suite(put(root, "suites/s.yaml", suite), "suites/s.yaml")


def test_a_txt_file_holds_prompts_separated_by_a_dashes_line(tmp_path: Path) -> None:
    put(tmp_path, "suites/p.txt", "Capital of {{c}}?\n---\nWhere is {{ c }}?\n  ---  not a separator\n")
    cases = load(tmp_path, "prompts: file://p.txt\ntests: [{vars: {c: Peru}}]\n")
    assert [(c.id, c.messages[0]["content"]) for c in cases] == [
        ("test-1[p.txt:1]", "Capital of Peru?"),
        ("test-1[p.txt:2]", "Where is Peru?\n  ---  not a separator"),
    ]


def test_a_json_chat_prompt_is_rendered_then_parsed_and_dump_escapes(tmp_path: Path) -> None:
    put(
        tmp_path,
        "suites/chat.json",
        '[{"role": "system", "content": "Be terse"}, {"role": "user", "content": {{ q | dump }}}]',
    )
    cases = load(
        tmp_path,
        """
        prompts: [{id: file://chat.json, label: terse}, "plain {{q}}"]
        tests: [{vars: {q: "say \\"hi\\"\\nnow"}}]
        """,
    )
    assert cases[0].id == "test-1[terse]"
    assert cases[0].messages == (
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": 'say "hi"\nnow'},
    )


def test_a_json_prompt_that_does_not_parse_is_an_error_at_the_test(tmp_path: Path) -> None:
    put(tmp_path, "suites/chat.json", '[{"role": "user", "content": "{{ q }}"}]')
    with pytest.raises(SuiteError, match=r"suites/s.yaml:2: tests\[0\]: prompt 'chat.json' is not valid JSON"):
        load(tmp_path, 'prompts: [file://chat.json]\ntests: [{vars: {q: "a \\"quote"}}]\n')


def test_load_and_dump_filters() -> None:
    renderer = Renderer()
    assert renderer.render("{{ (x | load).a[1] }}", {"x": '{"a": [1, 2]}'}) == "2"
    assert renderer.render("{{ x | dump }}", {"x": {"k": ["é", 1]}}) == '{"k": ["é", 1]}'
    assert renderer.render("{{ x | dump(2) }}", {"x": [1]}) == "[\n  1\n]"
    with pytest.raises(TemplateProblem):
        renderer.render("{{ x | load }}", {"x": "{not json"})


def test_prompt_files_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    put(tmp_path, "suites/p.csv", "x")
    with pytest.raises(SuiteError, match=r"cannot read prompts from a \.csv file"):
        load(tmp_path, "prompts: [file://p.csv]\ntests: [{vars: {}}]\n")
    put(tmp_path, "suites/empty.txt", "\n---\n")
    with pytest.raises(SuiteError, match="holds no prompt"):
        load(tmp_path, "prompts: [file://empty.txt]\ntests: [{vars: {}}]\n")


def test_var_arrays_expand_into_every_combination_with_readable_ids(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        """
        prompts: ["{{word}} in {{lang}} {{n}}"]
        defaultTest: {vars: {lang: [en, fr]}}
        tests:
          - id: greet
            vars: {word: [hi, "a [long] value that goes on and on"], n: [1, 2], obj: [{a: 1}]}
        """,
    )
    assert [c.id for c in cases] == [
        "greet[lang=en,word=hi]",
        "greet[lang=en,word=a (long) value t…" + cases[1].id.split("…")[1],
        "greet[lang=fr,word=hi]",
        cases[1].id.replace("lang=en", "lang=fr"),
    ]
    assert cases[3].vars["word"] == "a [long] value that goes on and on"
    assert cases[0].vars["n"] == [1, 2], "a list of numbers is one value, as in promptfoo"
    assert cases[0].messages[0]["content"] == "hi in en [1, 2]"
    assert len({c.id for c in cases}) == 4


def test_too_many_combinations_is_an_error_before_expanding(tmp_path: Path) -> None:
    words = "[" + ", ".join(f"w{i}" for i in range(101)) + "]"
    with pytest.raises(SuiteError, match=r"suites/s.yaml:3: tests\[0\].vars: .*10,201 combinations"):
        load(tmp_path, f"prompts: [x]\ntests:\n  - vars: {{a: {words}, b: {words}}}\n")


def test_var_arrays_run_each_combination(project: Project) -> None:
    project.suite(
        "s.yaml",
        'prompts: ["say {{w}}"]\ntests: [{vars: {w: [one, two]}, assert: [{type: contains, value: "{{w}}"}]}]\n',
    )
    result = project.run("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*suites/s.yaml::test-1?w=one? PASSED*", "*suites/s.yaml::test-1?w=two? PASSED*"])


def test_a_file_var_reads_the_file_as_promptfoo_does(tmp_path: Path) -> None:
    put(tmp_path, "suites/doc.txt", "Paris is the capital.\n")
    put(tmp_path, "suites/cfg.json", '{"tone": "formal"}')
    cases = load(
        tmp_path,
        'prompts: ["{{doc}} {{cfg.tone}}"]\ntests: [{vars: {doc: file://doc.txt, cfg: file://cfg.json}}]\n',
    )
    assert cases[0].messages[0]["content"] == "Paris is the capital.\n formal"
    put(tmp_path, "suites/x.py", "")
    with pytest.raises(SuiteError, match=r"suites/s.yaml:2: vars.doc: 'file://x.py' runs code"):
        load(tmp_path, "prompts: [x]\ntests: [{vars: {doc: file://x.py}}]\n")
