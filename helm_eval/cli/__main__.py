"""``python -m helm_eval.cli``: the ``helm-eval`` command."""

from helm_eval.cli import main

raise SystemExit(main())
