"""Plain ``{{ name }}`` templates are filled in without Jinja; the result must be exactly Jinja's, errors included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_eval.collect import Renderer, TemplateProblem, _template
from helm_eval.collect._sandbox import MAX_RENDER_CHARS

NAMES = [
    "q", "q1", "_x", "_", "Name_2", "range", "true", "True", "none", "None", "self", "loop", "super", "caller",
    "not", "in", "is", "if", "and", "match", "é", "x y", "1a",
]  # fmt: skip
TAGS = [
    "{{-q}}", "{{q-}}", "{{+q}}", "{{ q|upper }}", "{{ q.x }}", "{{ q ~ q }}", "{{{q}}}", "{{q}}}",
    "{% if q %}x{% endif %}", "{# c #}", "{%raw%}{{q}}{%endraw%}", "{{", "}}", "{", "}", "{{ }}", "{{ 'q' }}",
    "{{q}", "{ {q}}", "{{\\n}}",
]  # fmt: skip
literal = st.text(alphabet=st.sampled_from(list("ab {}-%#\n\r\t\u2028é|.")), max_size=8)
plain_literal = st.text(alphabet=st.sampled_from(list("ab }-%#\n\t\u2028é|.")), max_size=8)
spacing = st.sampled_from(["", " ", "  ", "\t", "\n", " \n"])
placeholder = st.builds(lambda a, name, b: "{{" + a + name + b + "}}", spacing, st.sampled_from(NAMES), spacing)
plain_spacing = st.sampled_from(["", " ", "  "])
plain_placeholder = st.builds(
    lambda a, name, b: "{{" + a + name + b + "}}",
    plain_spacing,
    st.one_of(st.sampled_from(["q", "q1", "_x", "Name_2", "range"]), st.sampled_from(NAMES)),
    plain_spacing,
)
templates = st.one_of(
    st.lists(st.one_of(plain_literal, plain_placeholder), max_size=8).map("".join),  # mostly the fast path's
    st.lists(st.one_of(literal, placeholder, st.sampled_from(TAGS)), max_size=8).map("".join),
)
values = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", "{{q}}", "{% x %}", "\r\n", "<b>&amp;</b>", "é\u2028"]),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=2), max_size=2),
)
variables = st.one_of(
    st.fixed_dictionaries({name: st.text(max_size=4) for name in NAMES}),  # every placeholder filled with text
    st.dictionaries(st.sampled_from(NAMES), values, max_size=6),
)


@contextmanager
def _jinja_only() -> Iterator[None]:
    with mock.patch.object(_template, "_plain_parts", return_value=None):
        yield


def _outcome(renderer: Renderer, text: str, given_vars: dict[str, Any]) -> tuple[str, str]:
    try:
        return ("ok", renderer.render(text, given_vars))
    except TemplateProblem as exc:
        return ("error", str(exc))


def _both(text: str, given_vars: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    fast = _outcome(Renderer(), text, given_vars)
    with _jinja_only():
        jinja = _outcome(Renderer(), text, given_vars)
    return fast, jinja


@settings(max_examples=600, deadline=None)
@given(templates, variables)
def test_the_fast_path_renders_exactly_as_jinja(text: str, given_vars: dict[str, Any]) -> None:
    fast, jinja = _both(text, given_vars)
    assert fast == jinja


@pytest.mark.parametrize("name", NAMES)
def test_each_name_renders_as_jinja_renders_it(name: str) -> None:
    fast, jinja = _both(f"<{{{{ {name} }}}}>", {name: "V"})
    assert fast == jinja


@pytest.mark.parametrize(
    "text",
    ["{{q}}", "{{ q }}", "{{  q}}", "a{{q}}b{{ q1 }}c\n", "{{q}}\n\n", "\n{{_x}}{{q}}", "{{q}}}", "} {{q}} {"],
)
def test_plain_placeholders_take_the_fast_path_and_match_jinja(text: str) -> None:
    given_vars = {"q": "Q {{x}}", "q1": "é\n", "_x": ""}
    assert _template._plain_parts(text) is not None
    fast, jinja = _both(text, given_vars)
    assert fast[0] == "ok"
    assert fast == jinja


@pytest.mark.parametrize(
    "text", ["{{q|upper}}", "{{ q.x }}", "{{-q}}", "{{q -}}", "{{\tq}}", "{{q}}{% if 1 %}{% endif %}", "{# #}{{q}}"]
)
def test_other_syntax_is_left_to_jinja(text: str) -> None:
    assert _template._plain_parts(text) is None


def test_a_carriage_return_is_left_to_jinja_which_normalises_it() -> None:
    assert _template._plain_parts("a\r\n{{q}}") is None
    assert Renderer().render("a\r\n{{q}}\r", {"q": "x\r"}) == "a\nx\r\n"


@pytest.mark.parametrize(
    ("text", "given_vars", "words"),
    [
        ("{{q}}", {"q": "x" * (MAX_RENDER_CHARS + 1)}, "printing a value would build a value of 1,000,001"),
        ("{{q}}{{q}}", {"q": "x" * (MAX_RENDER_CHARS // 2 + 1)}, "renders more than 1,000,000 characters"),
        ("a{{q}}", {"q": "x" * MAX_RENDER_CHARS}, "renders more than 1,000,000 characters"),
        ("{{q}}" + "a" * 10, {"q": "x" * (MAX_RENDER_CHARS - 5)}, "renders more than 1,000,000 characters"),
        ("a" * MAX_RENDER_CHARS + "{{q}}", {"q": "x" * (MAX_RENDER_CHARS + 1)}, "printing a value"),
        ("a" * (MAX_RENDER_CHARS + 1) + "{{q}}", {"q": "x" * (MAX_RENDER_CHARS + 1)}, "renders more than"),
    ],
)
def test_the_limits_refuse_as_jinja_does(text: str, given_vars: dict[str, Any], words: str) -> None:
    fast, jinja = _both(text, given_vars)
    assert fast == jinja
    assert fast[0] == "error"
    assert fast[1].startswith("template refused: ")
    assert words in fast[1]


def test_exactly_the_limit_renders() -> None:
    text = "ab{{q}}"
    fast, jinja = _both(text, {"q": "x" * (MAX_RENDER_CHARS - 2)})
    assert fast == jinja
    assert fast[0] == "ok"


def test_too_many_tags_is_refused_even_when_plain() -> None:
    text = "{{q}}" * (_template.MAX_TEMPLATE_TAGS + 1)
    fast, jinja = _both(text, {"q": "x"})
    assert fast == jinja
    assert "1,001 tags" in fast[1]


def test_an_exhausted_suite_time_budget_refuses_a_new_plain_template() -> None:
    renderer = Renderer()
    assert renderer.render("{{q}}!", {"q": "x"}) == "x!"
    renderer._seconds_left = 0
    assert renderer.render("{{q}}!", {"q": "y"}) == "y!"  # already compiled: Jinja would render it too
    with pytest.raises(TemplateProblem, match="take more than 10 s in all"):
        renderer.render("{{q}}?", {"q": "y"})


def test_a_value_that_is_not_a_string_goes_through_jinja() -> None:
    renderer = Renderer()
    assert renderer.render("{{q}}", {"q": 3}) == "3"
    assert renderer.render("{{q}}", {"q": "3"}) == "3"
    with pytest.raises(TemplateProblem, match="undefined variable: 'q' is undefined"):
        renderer.render("{{q}}", {})
