"""Hostile suite files: alias bombs, tabs, broken encodings — each a fast one-line error at file:line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from helm_eval.collect import Renderer, TemplateProblem, _template, load_suite
from helm_eval.collect._suite import MAX_CASE_CHARS, MAX_SUITE_CHARS
from helm_eval.config import SuiteError, load_yaml_text
from helm_eval.config._yaml import MAX_ALIAS_CHARS, MAX_ALIAS_NODES
from tests.conftest import Project

BILLION_LAUGHS = """\
prompts: ["{{q}}"]
lol0: &l0 "lol"
lol1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
lol2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
lol3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
lol4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
lol5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
lol6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
lol7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
lol8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
lol9: &l9 [*l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8]
tests:
  - id: boom
    vars: {q: hi, bomb: *l9}
"""


def load_error(tmp_path: Path, data: str | bytes, name: str = "x.yaml") -> SuiteError:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    with pytest.raises(SuiteError) as info:
        load_suite(path, f"suites/{name}")
    return info.value


# -- alias expansion -------------------------------------------------------------------------------------------


def test_billion_laughs_fails_fast_at_the_alias_that_crosses_the_limit(tmp_path: Path) -> None:
    started = time.perf_counter()
    error = load_error(tmp_path, BILLION_LAUGHS)
    assert time.perf_counter() - started < 10  # milliseconds when idle; a regression takes minutes
    # lol5 is the first level whose ten aliases add up to more than 100,000 nodes
    assert str(error).startswith("suites/x.yaml:7: YAML aliases expand to more than 100,000 nodes")
    assert "\n" not in str(error)


def test_alias_expansion_counts_characters_too(tmp_path: Path) -> None:
    big = "y" * (MAX_ALIAS_CHARS // 4 + 1)
    text = f'prompts: ["{{{{q}}}}"]\ndoc: &doc "{big}"\ntests:\n' + "".join(
        f"  - {{id: t{i}, vars: {{q: *doc}}}}\n" for i in range(4)
    )
    error = load_error(tmp_path, text)
    assert error.line == 7
    assert f"more than {MAX_ALIAS_CHARS:,} characters" in error.message


def test_merge_keys_count_as_aliases(tmp_path: Path) -> None:
    lines = ["base: &b {" + ", ".join(f"k{i}: [{', '.join(['1'] * 100)}]" for i in range(100)) + "}"]
    lines += [f"m{i}: {{<<: *b}}" for i in range(12)]
    with pytest.raises(SuiteError, match=r"^x.yaml:11: YAML aliases expand"):
        load_yaml_text("\n".join(lines) + "\n", "x.yaml")


def test_ordinary_anchors_still_load() -> None:
    text = "common: &c {temperature: 0, max_tokens: 8}\na: *c\nb: {<<: *c, max_tokens: 9}\n"
    assert load_yaml_text(text, "x.yaml") == {
        "common": {"temperature": 0, "max_tokens": 8},
        "a": {"temperature": 0, "max_tokens": 8},
        "b": {"temperature": 0, "max_tokens": 9},
    }
    many = "v: &v [" + ", ".join(["x"] * 50) + "]\n" + "".join(f"k{i}: *v\n" for i in range(MAX_ALIAS_NODES // 60))
    assert len(load_yaml_text(many, "x.yaml")) == MAX_ALIAS_NODES // 60 + 1


def test_a_recursive_alias_is_one_line_at_its_line() -> None:
    with pytest.raises(SuiteError, match=r"^x.yaml:2: alias \*a refers to a node that contains it"):
        load_yaml_text("a: &a\n  - *a\n", "x.yaml")


# -- tabs and encodings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param('prompts: ["hi"]\ntests:\n  - id: a\n\tvars: {x: 1}\n', 4, id="tab-before-key"),
        pytest.param('prompts: ["hi"]\ntests:\n\t- id: a\n', 3, id="tab-before-dash"),
        pytest.param('prompts: ["hi"]\ntests:\n  - id: a\n    vars:\n    \tx: 1\n', 5, id="tab-after-spaces"),
        pytest.param('prompts: ["hi"]\ntests:\n  -\tid: a\n', 3, id="tab-after-dash"),
    ],
)
def test_a_tab_in_indentation_says_tab_at_its_line(tmp_path: Path, text: str, line: int) -> None:
    error = load_error(tmp_path, text)
    assert error.line == line, str(error)
    assert "tab" in error.message
    assert "spaces" in error.message


def test_invalid_utf8_names_the_line_not_a_byte_offset(tmp_path: Path) -> None:
    error = load_error(tmp_path, b'prompts: ["hi"]\ntests:\n  - id: a\n    vars: {x: "caf\xe9"}\n')
    assert error.line == 4, str(error)
    assert "UTF-8" in error.message
    assert "position" not in error.message


def test_a_control_character_names_its_line_in_one_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, 'prompts: ["hi"]\ntests:\n  - id: "a\x00b"\n')
    assert error.line == 3, str(error)
    assert "\n" not in str(error)
    assert "U+0000" in error.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param("a:\n  - b\n  - !!timestamp 2020-99-99\n", 3, ["month"], id="bad-date"),
        pytest.param("a: " + "1" * 5000 + "\n", 1, ["4300 digits"], id="huge-int"),
        pytest.param("!!timestamp 2020-99-99\n", 1, ["month"], id="root-scalar"),
    ],
)
def test_an_unreadable_scalar_is_an_error_at_its_line(text: str, line: int, words: list[str]) -> None:
    with pytest.raises(SuiteError) as info:
        load_yaml_text(text, "x.yaml")
    assert info.value.line == line
    assert info.value.message.startswith("invalid YAML value: ")
    assert "sys." not in info.value.message
    for word in words:
        assert word in info.value.message


def test_merge_keys_merge_and_the_mapping_own_keys_win() -> None:
    text = "a: &a {k: 1, j: 2}\nb: &b {k: 3, z: 4}\nc: {<<: [*a, *b], j: 9}\nd: {j: 1, j: 2}\n"
    with pytest.raises(SuiteError, match=r"^x.yaml:4: duplicate key 'j' \(first at line 4\)"):
        load_yaml_text(text, "x.yaml")
    assert load_yaml_text(text.rsplit("d:", 1)[0], "x.yaml")["c"] == {"k": 1, "j": 9, "z": 4}


# -- templates -------------------------------------------------------------------------------------------------

HOSTILE_TEMPLATES = {
    "repeat": "{{ 'x' * 300000000 }}",
    "repeat-var": "{{ 'x' * n }}",
    "repeat-list": "{{ [[1] * 999999] * 999999 }}",
    "power": "{{ 9 ** 9999999 }}",
    "square-loop": "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "percent-width": "{{ '%0999999999d' % 1 }}",
    "format-filter": "{{ '%999999999s'|format('x') }}",
    "ljust": "{{ 'x'.ljust(999999999) }}",
    "format-width": "{{ '{:>999999999}'.format('x') }}",
    "format-width-arg": "{{ '{:>{w}}'.format('x', w=999999999) }}",
    "expandtabs": "{{ ('\t' * 1000).expandtabs(999999) }}",
    "replace": "{{ ('x' * 999999).replace('x', 'yy') }}",
    "center": "{{ 'x'|center(999999999) }}",
    "indent": "{{ ('\n' * 999999)|indent(999) }}",
    "wordwrap": "{{ ('x' * 1000)|wordwrap(1, true, 'y' * 10000) }}",
    "batch": "{{ [1]|batch(999999999, 0)|list }}",
    "sum": "{{ ([[1]] * 100000)|sum(start=[]) }}",
    "concat-doubling": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "plus-doubling": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "loop-output": "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
    "loop-literal": "{% set s %}{% for i in range(100000) %}" + "y" * 400 + "{% endfor %}{% endset %}",
    "macro-bomb": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "mutation": "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
}


@pytest.mark.parametrize("template", list(HOSTILE_TEMPLATES.values()), ids=list(HOSTILE_TEMPLATES))
def test_a_template_asking_for_too_much_fails_fast_at_the_test_line(tmp_path: Path, template: str) -> None:
    text = f"prompts: [{json.dumps(template)}]\ntests:\n  - id: a\n    vars: {{n: 300000000}}\n"
    started = time.perf_counter()
    error = load_error(tmp_path, text)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"took {elapsed:.1f} s"  # about a second at most when idle
    assert error.line == 3, str(error)
    assert "\n" not in str(error)
    assert error.message.startswith("tests[0]: template "), str(error)


ORDINARY_TEMPLATES = [
    "Say {{ word }}",
    "{{ word|upper }} {{ word|default('x') }} {{ missing|default('none') }} {{ word|length }}",
    "{{ word|replace('l', 'L') }} {{ word|replace('l', 'L', 1) }} {{ word|title }} {{ word|string|list|first }}",
    "{% for m in items %}{{ loop.index }}/{{ items|length }}: {{ m.q }} -> {{ m.a }}\n{% endfor %}",
    "{{ items|map(attribute='q')|join(', ') }} {{ items|selectattr('a')|list|length }}",
    "{% macro row(m) %}[{{ m.q }}]{% endmacro %}{% for m in items %}{{ row(m) }}{% endfor %}",
    "{{ '-' * 20 }} {{ '%-8s|' % word }} {{ '{:>6}'.format(word) }} {{ '%05d'|format(42) }} {{ 2 ** 10 }}",
    "{% set ns = namespace(n=0) %}{% for i in range(100) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
    "{{ doc|indent(2) }}|{{ doc|wordwrap(20) }}|{{ doc|truncate(30) }}|{{ doc|center(40) }}",
    "{{ items|tojson }} {{ {'a': 1}|items|list }} {{ word ~ '!' ~ word }} {{ [1, 2] + [3] }}",
    "{% for i in range(1000) %}{{ i }},{% endfor %}",
    "{{ doc.split()|sort|unique|join(' ') }} {{ doc.replace('o', '0') }} {{ ', '.join(['a', 'b']) }}",
]
VARS = {
    "word": "hello",
    "items": [{"q": "2+2", "a": "4"}, {"q": "capital of France", "a": "Paris"}, {"q": "empty", "a": ""}],
    "doc": "one two three four five six seven eight nine ten\neleven twelve",
}


@pytest.mark.parametrize("template", ORDINARY_TEMPLATES)
def test_ordinary_templates_render_as_in_jinja(template: str) -> None:
    plain = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    assert Renderer().render(template, VARS) == plain.from_string(template).render(VARS)


def test_templates_share_a_budget_per_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_template, "MAX_SUITE_TEMPLATE_STEPS", 250_000)
    renderer = Renderer()
    loop = "{% for i in range(100000) %}{% endfor %}"
    renderer.render(loop, {})
    renderer.render(loop, {})
    with pytest.raises(TemplateProblem, match=r"^template refused: the suite's templates take more than 250,000"):
        renderer.render(loop, {})


def test_a_template_with_too_many_tags_is_refused_before_compiling() -> None:
    with pytest.raises(TemplateProblem, match=r"^template refused: the template has 1,001 tags; a template may have"):
        Renderer().render("{{ x }}" * 1001, {"x": 1})


# -- what input guardrails will scan ---------------------------------------------------------------------------


def test_a_case_holding_more_than_the_scan_limit_is_refused_at_its_line(tmp_path: Path) -> None:
    big = "word " * (MAX_CASE_CHARS // 5 + 1)
    error = load_error(
        tmp_path,
        'prompts: ["{{q}}"]\ntests:\n  - id: small\n    vars: {q: hi}\n  - id: big\n'
        f'    vars: {{q: hi, doc: "{big}"}}\n',
    )
    assert error.line == 5
    assert error.message.startswith(f"tests[1]: vars and messages hold over {MAX_CASE_CHARS:,} characters")


def test_a_default_var_counts_for_every_test_it_reaches(tmp_path: Path) -> None:
    doc = "word " * (MAX_CASE_CHARS // 10)  # 1,000,000 characters, scanned once per test
    tests = "".join(f"  - id: t{i}\n" for i in range(MAX_SUITE_CHARS // len(doc) + 1))
    text = f'prompts: ["hi"]\ndefaultTest:\n  vars: {{doc: "{doc}"}}\ntests:\n{tests}'
    started = time.perf_counter()
    error = load_error(tmp_path, text)
    assert time.perf_counter() - started < 10
    assert error.line == 4 + MAX_SUITE_CHARS // len(doc)  # tests[0] is at line 5; a case holds a little more
    assert f"over {MAX_SUITE_CHARS:,} characters in all" in error.message


# -- under pytest ----------------------------------------------------------------------------------------------


def test_hostile_suites_fail_their_own_collection_fast_without_a_traceback(project: Project) -> None:
    project.suite("bomb.yaml", BILLION_LAUGHS)
    project.suite("mul.yaml", "prompts: [\"{{ 'x' * 300000000 }}\"]\ntests:\n  - id: a\n")
    project.suite("tab.yaml", 'prompts: ["hi"]\ntests:\n\t- id: a\n')
    project.suite("good.yaml", 'prompts: ["Say hi"]\ntests:\n  - id: hello\n')
    started = time.perf_counter()
    result = project.run("--continue-on-collection-errors")
    assert time.perf_counter() - started < 30
    result.stdout.fnmatch_lines_random(
        [
            "suites/bomb.yaml:7: YAML aliases expand to more than 100,000 nodes*",
            "suites/mul.yaml:3: tests[[]0]: template refused: '[*]' would build a value of 300,000,000 characters*",
            "suites/tab.yaml:3: invalid YAML: a tab character in the indentation*",
        ]
    )
    result.assert_outcomes(passed=1, errors=3)
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    assert len(project.chat_requests()) == 1


# -- include: packs stay inside the project ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    ["../../outside.pack.yaml", "{outside}", "/proc/self/environ", "/etc/passwd", "../link.pack.yaml", "../loop"],
)
def test_include_outside_the_project_is_refused_at_its_line(tmp_path: Path, ref: str) -> None:
    project = tmp_path / "project"
    outside = tmp_path / "outside.pack.yaml"
    outside.write_text("description: SECRET-TOKEN-123\ndefaultTest: {tags: [SECRET]}\n", encoding="utf-8")
    (project / "suites").mkdir(parents=True)
    (project / "link.pack.yaml").symlink_to(outside)
    (project / "loop").symlink_to(project / "loop")
    ref = ref.format(outside=outside)
    suite = project / "suites" / "a.yaml"
    suite.write_text(f'prompts: ["hi"]\ninclude:\n  - helm-eval:guardrails\n  - "{ref}"\ntests:\n  - id: t\n')
    with pytest.raises(SuiteError) as info:
        load_suite(suite, "suites/a.yaml")
    assert str(info.value) == (
        f"suites/a.yaml:4: include[1]: {ref!r} is outside the project; a pack must be a file under the rootdir "
        "(copy it into the repository) or a shipped pack (helm-eval:<name>)"
    )


def test_a_missing_file_outside_the_project_is_outside_not_missing(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    suite = tmp_path / "suites" / "a.yaml"
    suite.write_text('prompts: ["hi"]\ninclude: ["/etc/no-such-file"]\ntests:\n  - id: t\n')
    with pytest.raises(SuiteError, match="is outside the project"):
        load_suite(suite, "suites/a.yaml")


def test_include_inside_the_project_by_relative_or_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    (tmp_path / "suites").mkdir()
    pack = tmp_path / "packs" / "house.pack.yaml"
    pack.write_text("defaultTest: {tags: [house]}\n", encoding="utf-8")
    (tmp_path / "suites" / "link.pack.yaml").symlink_to(pack)
    for ref in ["../packs/house.pack.yaml", str(pack), "link.pack.yaml"]:
        suite = tmp_path / "suites" / "a.yaml"
        suite.write_text(f'prompts: ["hi"]\ninclude: ["{ref}"]\ntests:\n  - id: t\n', encoding="utf-8")
        (case,) = load_suite(suite, "suites/a.yaml")
        assert case.tags == ("house",)
    broken = tmp_path / "packs" / "broken.pack.yaml"
    broken.write_text("defaultTest: {tagz: []}\n", encoding="utf-8")
    suite.write_text(f'prompts: ["hi"]\ninclude: ["{broken}"]\ntests:\n  - id: t\n', encoding="utf-8")
    with pytest.raises(SuiteError, match=r"^packs/broken.pack.yaml:1: defaultTest.tagz: unknown field"):
        load_suite(suite, "suites/a.yaml")


def test_an_outside_include_under_pytest_leaves_nothing_of_the_file_in_the_reports(project: Project) -> None:
    outside = project.path.parent / f"{project.path.name}-secret.pack.yaml"
    outside.write_text("description: SECRET-TOKEN-123\ndefaultTest: {tags: [secret]}\n", encoding="utf-8")
    ref = f"../../{outside.name}"
    project.suite("bad.yaml", f'include: ["{ref}"]\nprompts: ["hi"]\ntests:\n  - id: t\n')
    project.suite("good.yaml", 'prompts: ["Say hi"]\ntests:\n  - id: hello\n')
    result = project.run("--continue-on-collection-errors", "--helm-eval-report", "run.json", "--junitxml", "j.xml")
    result.stdout.fnmatch_lines([f"suites/bad.yaml:1: include[[]0]: '{ref}' is outside the project; *"])
    result.assert_outcomes(passed=1, errors=1)
    for text in (result.stdout.str(), (project.path / "run.json").read_text(), (project.path / "j.xml").read_text()):
        assert "SECRET-TOKEN-123" not in text
