"""Suite files → ``Case`` records (no pytest here: the CLI's ``plan`` uses the same path)."""

from helm_eval.collect._shard import ENV_SHARD, Shard
from helm_eval.collect._suite import MAX_CASE_CHARS, load_suite
from helm_eval.collect._template import Renderer, TemplateProblem

__all__ = ["ENV_SHARD", "MAX_CASE_CHARS", "Renderer", "Shard", "TemplateProblem", "load_suite"]
