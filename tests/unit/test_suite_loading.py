"""Suite files → cases: expansion, defaults, templating, and malformed suites failing with file:line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helm_eval.collect import load_suite
from helm_eval.config import Options, SuiteError, load_project_config


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> list:
    return load_suite(write(tmp_path, text), "suites/x.yaml")


def load_error(tmp_path: Path, text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load(tmp_path, text)
    return info.value


# -- expansion ---------------------------------------------------------------------------------------------


def test_one_case_per_test_and_prompt_with_labels_only_for_several_prompts(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        """
        prompts:
          - "Say {{word}}"
          - id: polite
            prompt: "Please say {{word}}"
        tests:
          - id: hello
            vars: {word: hello}
          - description: says bye
            vars: {word: bye}
          - vars: {word: third}
        """,
    )
    assert [c.id for c in cases] == [
        "hello[prompt-1]",
        "hello[polite]",
        "says bye[prompt-1]",
        "says bye[polite]",
        "test-3[prompt-1]",
        "test-3[polite]",
    ]
    assert [c.prompt_label for c in cases[:2]] == ["prompt-1", "polite"]
    assert cases[1].messages == ({"role": "user", "content": "Please say hello"},)

    single = load(tmp_path, 'prompts: ["Say {{word}}"]\ntests:\n  - id: hello\n    vars: {word: hi}\n')
    assert [c.id for c in single] == ["hello"]
    assert single[0].prompt_label is None


def test_case_line_is_the_1_based_line_of_its_test(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        """
        prompts: ["Q: {{q}}"]
        tests:
          - id: first
            vars: {q: a}

          - id: second
            vars: {q: b}
            assert:
              - type: contains
                value: b
        """,
    )
    assert [(c.id, c.file, c.line) for c in cases] == [("first", "suites/x.yaml", 3), ("second", "suites/x.yaml", 6)]
    assert cases[1].assertions[0].line == 9


def test_chat_prompts_render_vars_in_every_message(tmp_path: Path) -> None:
    (case,) = load(
        tmp_path,
        """
        prompts:
          - - {role: system, content: "You are {{persona}}."}
            - {role: user, content: "{{q | upper}}"}
        tests:
          - vars: {persona: terse, q: why}
        """,
    )
    assert case.messages == (
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "WHY"},
    )


def test_default_test_merges_under_each_test(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        """
        tags: [suite-tag]
        metadata: {owner: team-a}
        prompts: ["{{q}}"]
        defaultTest:
          vars: {q: default-q, lang: en}
          options: {temperature: 0.5, max_tokens: 10, extra_body: {a: 1}}
          assert:
            - type: contains
              value: "{{lang}}"
          repeat: {n: 3, pass_rate: 0.5}
          tags: [smoke]
        tests:
          - id: overrides
            vars: {q: own}
            options: {max_tokens: 20, extra_body: {b: 2}}
            assert:
              - type: not-contains
                value: bad
            repeat: {n: 5, pass_rate: 0.8}
            tags: [slow, smoke]
            metadata: {owner: team-b}
          - id: inherits
        """,
    )
    over, inherit = cases
    assert over.messages[0]["content"] == "own"
    assert over.options == {"temperature": 0.5, "max_tokens": 20, "extra_body": {"a": 1, "b": 2}}
    assert [(a.type, a.value, a.negate) for a in over.assertions] == [
        ("contains", "en", False),
        ("contains", "bad", True),
    ]
    assert (over.repeat, over.threshold) == (5, 0.8)
    assert over.tags == ("suite-tag", "smoke", "slow")
    assert over.metadata == {"owner": "team-b"}
    assert inherit.messages[0]["content"] == "default-q"
    assert (inherit.repeat, inherit.threshold) == (3, 0.5)
    assert inherit.metadata == {"owner": "team-a"}


def test_project_option_defaults_sit_below_the_suite(tmp_path: Path) -> None:
    path = write(tmp_path, 'prompts: ["hi"]\ntests:\n  - options: {max_tokens: 7}\n')
    (case,) = load_suite(path, "x.yaml", Options(temperature=0.0, max_tokens=256, seed=1))
    assert case.options == {"temperature": 0.0, "max_tokens": 7, "seed": 1}


def test_defaults_when_a_test_says_nothing(tmp_path: Path) -> None:
    (case,) = load(tmp_path, 'prompts: ["hi"]\ntests:\n  - {}\n')
    assert (case.id, case.repeat, case.threshold, case.tags, case.assertions) == ("test-1", 1, 1.0, (), ())


def test_node_id_separators_and_newlines_are_removed_from_ids(tmp_path: Path) -> None:
    (case,) = load(tmp_path, 'prompts: ["hi"]\ntests:\n  - description: "a::b\\nc"\n')
    assert case.id == "a:b c"


def test_control_characters_in_ids_are_escaped(tmp_path: Path) -> None:
    (case,) = load(tmp_path, 'prompts: ["hi"]\ntests:\n  - description: "\\e[31mred\\x07"\n')
    assert case.id == "\\x1b[31mred\\x07"


def test_assertion_values_are_templated(tmp_path: Path) -> None:
    (case,) = load(
        tmp_path,
        """
        prompts: ["{{a}}"]
        tests:
          - vars: {a: x, b: y}
            assert:
              - type: contains-any
                value: ["{{a}}", "{{b}}!"]
        """,
    )
    assert case.assertions[0].value == ["x", "y!"]


def test_templates_run_in_a_sandbox(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        prompts: ["{{ ''.__class__.__mro__[1].__subclasses__() }}"]
        tests:
          - id: escape
        """,
    )
    assert error.line == 3
    assert "template error" in error.message


# -- malformed suites: SuiteError with the file, the 1-based line and the field --------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    vars: {x: [1, 2}\n',
            4,
            ["invalid YAML"],
            id="yaml-syntax",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: contain\n        value: x\n',
            5,
            ["tests[0].assert[0]", "unknown assertion type 'contain'", "contains"],
            id="unknown-assertion-type",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n  - id: b\n    repeat: many\n',
            5,
            ["tests[1].repeat", "integer"],
            id="wrong-field-type",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    asert: []\n',
            4,
            ["tests[0].asert", "unknown field"],
            id="unknown-field",
        ),
        pytest.param(
            'prompts: ["Say {{word}}"]\ntests:\n  - id: a\n    vars: {wrd: x}\n',
            3,
            ["tests[0]", "undefined variable", "word"],
            id="undefined-template-var",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: same\n  - id: other\n  - id: same\n',
            5,
            ["duplicate test id 'same'", "first at line 3"],
            id="duplicate-test-id",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: regex\n        value: "([a-z"\n',
            5,
            ["tests[0].assert[0]", "invalid regular expression"],
            id="invalid-regex",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    vars: {x: 1}\n    vars: {x: 2}\n',
            5,
            ["duplicate key 'vars'", "first at line 4"],
            id="duplicate-yaml-key",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: contains\n',
            5,
            ["tests[0].assert[0]", "needs a value"],
            id="missing-assertion-value",
        ),
        pytest.param(
            'prompts: ["hi"]\ndefaultTest:\n  assert:\n    - type: is-json\n      value: 3\ntests:\n  - id: a\n',
            4,
            ["defaultTest.assert[0]", "JSON Schema"],
            id="bad-default-assertion",
        ),
        pytest.param(
            'prompts: ["hi"]\n',
            None,
            ["tests", "required field is missing"],
            id="missing-tests",
        ),
        pytest.param(
            "prompts:\n  - id: p\n    prompt: hi\n    messages: [{role: user, content: hi}]\ntests:\n  - id: a\n",
            2,
            ["prompts[0]", "exactly one of prompt or messages"],
            id="prompt-and-messages",
        ),
        pytest.param(
            'prompts: ["hi"]\ntests:\n  - id: a\n    tags: ["two words"]\n',
            4,
            ["tests[0].tags", "single word"],
            id="tag-not-a-marker",
        ),
        pytest.param("- just\n- a list\n", 1, ["must be a mapping"], id="not-a-mapping"),
    ],
)
def test_malformed_suite_names_file_line_and_field(
    tmp_path: Path, text: str, line: int | None, words: list[str]
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path, "suites/x.yaml")
    error = info.value
    if line is not None:
        assert error.line == line, str(error)
        assert str(error).startswith(f"suites/x.yaml:{line}: ")
    else:
        assert str(error).startswith("suites/x.yaml")
    for word in words:
        assert word in str(error)


def test_unknown_top_level_field_is_reported_at_its_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, 'prompts: ["hi"]\ntests: [{}]\ndescription: d\ntests_x: 1\n')
    assert "tests_x" in str(error)
    assert error.line == 4


# -- the project config file ---------------------------------------------------------------------------------


def test_config_with_an_api_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        endpoints:
          local:
            url: http://127.0.0.1:8000/v1
            api_key: sk-secret-in-a-file
        """,
        "helm-eval.yaml",
    )
    with pytest.raises(SuiteError) as info:
        load_project_config(path, tmp_path)
    assert str(info.value) == (
        "helm-eval.yaml:4: endpoints.local.api_key: api keys are read from the environment only; "
        "name the variable with api_key_env"
    )
    assert "sk-secret-in-a-file" not in str(info.value)


def test_pyproject_with_an_api_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.helm-eval.endpoints.a]\nurl = "http://x/v1"\napi_key = "sk-1"\n', "pyproject.toml")
    with pytest.raises(SuiteError, match=r"^pyproject.toml \[tool.helm-eval\]: endpoints.a.api_key: api keys are"):
        load_project_config(path, tmp_path)


def test_config_errors_name_field_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "concurrency: 8\nretries: -1\n", "helm-eval.yaml")
    with pytest.raises(SuiteError) as info:
        load_project_config(path, tmp_path)
    assert str(info.value).startswith("helm-eval.yaml:2: retries:")


def test_config_endpoint_url_must_be_http(tmp_path: Path) -> None:
    path = write(tmp_path, "endpoints:\n  a: {url: 'ftp://x'}\n", "helm-eval.yaml")
    with pytest.raises(SuiteError, match=r"helm-eval.yaml:2: endpoints.a.url: .*http://"):
        load_project_config(path, tmp_path)


def test_pyproject_section_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.helm-eval]\nretries = 0\nsuites = ["evals/*.yaml"]\n', "pyproject.toml")
    config = load_project_config(path, tmp_path)
    assert (config.retries, config.suites) == (0, ["evals/*.yaml"])
