"""Suite files → ``Case`` records (no pytest here: the CLI's ``plan`` uses the same path)."""

from helm_eval.collect._suite import load_suite
from helm_eval.collect._template import Renderer, TemplateProblem

__all__ = ["Renderer", "TemplateProblem", "load_suite"]
