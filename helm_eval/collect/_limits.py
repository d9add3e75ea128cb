"""What one template may do: the sandbox's limits, here so plain templates are bounded without loading Jinja."""

from __future__ import annotations

MAX_RENDER_CHARS = 1_000_000
"""Characters one template may render, and the size of any value it builds (characters plus list/dict items)."""
MAX_TEMPLATE_STEPS = 1_000_000
"""Steps one rendering may take: a loop iteration or an operator is 1, a filter 2, an attribute 8, a call 16, plus
one per KiB of string or 16 items of list a call or filter works on (about a second of work at most)."""
MAX_RENDER_SECONDS = 2.0
"""Time one rendering may take whatever its steps (a backstop for work the steps do not weigh well)."""
MAX_INT_BITS = 65_536
"""Size of an integer a template may compute (``9 ** 9 ** 9`` would take minutes)."""
