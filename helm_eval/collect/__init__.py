"""Suite files → ``Case`` records (no pytest here: the CLI's ``plan`` uses the same path)."""

from helm_eval.collect._discover import is_tests_list, not_a_suite
from helm_eval.collect._matrix import MatrixOptions, ModelTarget
from helm_eval.collect._shard import ENV_SHARD, Shard
from helm_eval.collect._suite import MAX_CASE_CHARS, load_suite
from helm_eval.collect._template import Renderer, TemplateProblem

__all__ = [
    "ENV_SHARD",
    "MAX_CASE_CHARS",
    "MatrixOptions",
    "ModelTarget",
    "Renderer",
    "Shard",
    "TemplateProblem",
    "is_tests_list",
    "load_suite",
    "not_a_suite",
]
