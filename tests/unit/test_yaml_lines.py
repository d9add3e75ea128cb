"""The line-tracking YAML loader gives the same data as PyYAML's safe loader, with the line of every key and item."""

from __future__ import annotations

import contextlib
import datetime
import gc
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helm_eval._gc import gc_paused
from helm_eval.config import LineDict, LineList, SuiteError, load_yaml_text
from helm_eval.config._yaml import _BoundedLineLoader, _LineLoader

# plain texts that YAML 1.1 reads as something else than a string, and look-alikes that stay strings
TRICKY = [
    "yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "Null", "", "0", "-1", "+7", "0x1F", "0o17",
    "017", "1_000", "190:20:30", "1.5", ".5", "1e3", "1.0e+3", ".inf", "-.Inf", ".nan", "NaN", "2001-12-14",
    "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "=", "<<", "a b", "#x", "question 7", "c12",
    "-", "1.2.3", "0b101", "1:2", "tag:yaml.org,2002:str", "é", "'", '"',
]  # fmt: skip

scalars = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.dates(),
)
keys = st.one_of(st.sampled_from(TRICKY), st.text(max_size=8), st.integers(-5, 5), st.booleans())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)


def _lines_match(data: Any, node: yaml.Node) -> None:
    """``data`` is built of LineDict/LineList whose lines are those of the composed ``node``."""
    if isinstance(node, yaml.MappingNode):
        assert type(data) is LineDict
        assert data.line == node.start_mark.line + 1
        assert len(data) == len(node.value)
        for (key_node, value_node), key in zip(node.value, data, strict=True):
            assert data.key_lines[key] == key_node.start_mark.line + 1
            _lines_match(data[key], value_node)
    elif isinstance(node, yaml.SequenceNode):
        assert type(data) is LineList
        assert data.line == node.start_mark.line + 1
        assert data.item_lines == [child.start_mark.line + 1 for child in node.value]
        for item, child in zip(data, node.value, strict=True):
            _lines_match(item, child)
    else:
        assert not isinstance(data, LineDict | LineList)


def _same(loaded: Any, expected: Any) -> None:
    assert loaded == expected
    assert type(loaded) is type(expected) or isinstance(loaded, LineDict | LineList)
    if isinstance(expected, dict):
        for key in expected:
            _same(loaded[key], expected[key])
    elif isinstance(expected, list):
        for got, want in zip(loaded, expected, strict=True):
            _same(got, want)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from([False, True, None]), st.booleans())
def test_data_and_lines_match_pyyaml(data: Any, flow: bool | None, alias: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    if alias:  # an alias anywhere takes the bounded composer
        text = "# *\n" + text
    loaded = load_yaml_text(text, "x.yaml")
    _same(loaded, yaml.safe_load(text))
    _lines_match(loaded, yaml.compose(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize("text", [f"v: {t}\n" for t in TRICKY if t not in ("#x", "'", '"', "", "=", "<<", "-")])
def test_plain_scalars_resolve_as_pyyaml_does(text: str) -> None:
    expected = repr(yaml.safe_load(text)["v"])  # repr: nan == nan
    assert repr(load_yaml_text(text, "x.yaml")["v"]) == expected
    assert repr(load_yaml_text(f"u: &a 1\n{text}w: *a\n", "x.yaml")["v"]) == expected


def test_a_repeated_plain_text_resolves_the_same_quoted_or_not() -> None:
    loaded = load_yaml_text("- yes\n- 'yes'\n- yes\n- !!str yes\n- 12\n- '12'\n- 12\n", "x.yaml")
    assert loaded == [True, "yes", True, "yes", 12, "12", 12]


def test_an_alias_is_the_same_object_as_its_anchor() -> None:
    loaded = load_yaml_text("a: &x {k: [1, 2]}\nb: *x\nc: &y [p]\nd: [*y, *y]\n", "x.yaml")
    assert loaded["b"] is loaded["a"]
    assert loaded["d"][0] is loaded["c"]
    assert loaded["d"][1] is loaded["c"]
    assert loaded["a"].key_lines == {"k": 1}
    assert loaded["d"].item_lines == [3, 3]  # an alias is its anchor's node, lines included


def test_other_tags_go_through_pyyaml_constructors() -> None:
    text = "s: !!set {a, b}\no: !!omap [{x: 1}, {y: [2]}]\nb: !!binary aGk=\nd: 2001-12-14\nf: !!float 3\n"
    loaded = load_yaml_text(text, "x.yaml")
    assert loaded == yaml.safe_load(text)
    assert loaded["d"] == datetime.date(2001, 12, 14)
    assert loaded["o"][1][1] == [2]
    assert type(loaded["o"][1][1]) is LineList
    assert loaded.key_lines == {"s": 1, "o": 2, "b": 3, "d": 4, "f": 5}


def test_an_unknown_tag_and_a_bad_value_are_errors_at_their_line() -> None:
    with pytest.raises(SuiteError, match=r"^x.yaml:2: invalid YAML: .*!custom"):
        load_yaml_text("a: 1\nb: !custom x\n", "x.yaml")
    with pytest.raises(SuiteError, match=r"^x.yaml:3: invalid YAML value: "):
        load_yaml_text("a: 1\nb:\n  - !!int zz\n", "x.yaml")
    with pytest.raises(SuiteError, match=r"^x.yaml:2: mapping key is not a scalar"):
        load_yaml_text("a: 1\n? [k]\n: v\n", "x.yaml")


def test_the_loaders_have_no_path_resolvers() -> None:
    # their resolver skips path resolution and remembers each plain text's tag, which holds only without them
    assert not _LineLoader.yaml_path_resolvers
    assert not _BoundedLineLoader.yaml_path_resolvers


@pytest.mark.parametrize("text", ["a: 1\n", "a: [1\n", "a: &x 1\nb: *x\n", "a: !!int zz\n"])
def test_loading_leaves_the_garbage_collector_as_it_was(text: str) -> None:
    assert gc.isenabled()
    with contextlib.suppress(SuiteError):
        load_yaml_text(text, "x.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        with contextlib.suppress(SuiteError):
            load_yaml_text(text, "x.yaml")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_paused_pauses_and_restores() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause does not end the outer one
    assert gc.isenabled()
    with pytest.raises(ValueError, match="boom"), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()
