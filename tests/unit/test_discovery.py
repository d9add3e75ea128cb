"""Suites in a directory or file named on the command line, outside the configured globs; never a silent no-op."""

from __future__ import annotations

from tests.conftest import Project

SUITE = 'prompts: ["say hi"]\ntests: [{id: t, assert: [{type: contains, value: hi}]}]\n'


def test_a_directory_outside_the_globs_collects_its_suites_and_says_why_others_are_not(project: Project) -> None:
    project.file("evals/a.yaml", SUITE)
    project.file("evals/nested/b.yml", SUITE)
    project.file("evals/settings.yaml", "retries: 3\nname: x\n")
    project.file("evals/rows.yaml", "- vars: {q: 1}\n")
    result = project.run("evals", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*evals/a.yaml::t PASSED*",
            "*evals/nested/b.yml::t PASSED*",
            "helm-eval: evals/settings.yaml is not a suite: it has no prompts, tests or providers (its keys: retries*",
        ]
    )
    result.stdout.fnmatch_lines(["helm-eval: evals/rows.yaml is not a suite: it holds a list (a tests file?)*"])


def test_under_xdist_the_workers_notices_reach_the_summary_once(project: Project) -> None:
    project.file("evals/a.yaml", SUITE)
    project.file("evals/settings.yaml", "retries: 3\nname: x\n")
    result = project.run("evals", "-n", "2")
    result.assert_outcomes(passed=1)
    notice = "helm-eval: evals/settings.yaml is not a suite: *"
    result.stdout.fnmatch_lines([notice])
    assert sum(line.startswith("helm-eval: evals/settings.yaml") for line in result.stdout.lines) == 1


def test_a_directory_with_no_suite_says_why_instead_of_nothing(project: Project) -> None:
    project.file("evals/config.yaml", "key: value\n")
    result = project.run("evals")
    assert result.ret == 5
    result.stdout.fnmatch_lines(["helm-eval: evals/config.yaml is not a suite: it has no prompts, tests or providers*"])


def test_a_tests_file_under_the_globs_is_read_by_its_suite_not_collected(project: Project) -> None:
    project.suite("s.yaml", 'prompts: ["say {{w}}"]\ntests: file://rows.yaml\n')
    project.suite("rows.yaml", "# rows\n- vars: {w: one}\n- vars: {w: two}\n")
    result = project.run("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*suites/s.yaml::rows.yaml:2 PASSED*"])
