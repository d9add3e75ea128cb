"""Reference metrics against an expected text: ``rouge-n`` and ``bleu`` (promptfoo's meaning and defaults).

Scores come from maintained libraries (``rouge-score``, ``sacrebleu``), imported when a check first runs.
"""

from __future__ import annotations

from typing import Any

from helm_eval.checks._registry import CheckError, CheckInput, CheckOutput, register

MISSING = "{package} is not installed: pip install 'helm-eval[metrics]'"

ROUGE_THRESHOLD = 0.75
"""promptfoo's default minimum ROUGE-N score."""
BLEU_THRESHOLD = 0.5
"""promptfoo's default minimum BLEU score."""


def _reference(value: Any, threshold: float | None) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("value must be the reference text")


def _references(value: Any, threshold: float | None) -> None:
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("value must be a reference text or a list of them")


@register("rouge-n", validate=_reference)
def rouge_n(check: CheckInput) -> CheckOutput:
    """ROUGE-1 F-measure of the output against the reference text is at least the threshold (default 0.75)."""
    try:
        from rouge_score import rouge_scorer  # type: ignore[import-untyped]
    except ImportError:
        raise CheckError(MISSING.format(package="rouge-score")) from None

    scorer = rouge_scorer.RougeScorer(["rouge1"])
    score = float(scorer.score(str(check.value), check.output)["rouge1"].fmeasure)
    threshold = check.threshold if check.threshold is not None else ROUGE_THRESHOLD
    return CheckOutput(
        score + 1e-12 >= threshold, f"ROUGE-1 score {score:.3f} (threshold {threshold:g})", score, threshold
    )


@register("bleu", validate=_references)
def bleu(check: CheckInput) -> CheckOutput:
    """Sentence BLEU (4-grams, lowercased) against the reference(s) is at least the threshold (default 0.5)."""
    try:
        import sacrebleu
    except ImportError:
        raise CheckError(MISSING.format(package="sacrebleu")) from None

    references = check.value if isinstance(check.value, list) else [check.value]
    score = float(sacrebleu.sentence_bleu(check.output, [str(r) for r in references], lowercase=True).score) / 100
    threshold = check.threshold if check.threshold is not None else BLEU_THRESHOLD
    return CheckOutput(
        score + 1e-12 >= threshold, f"BLEU score {score:.3f} (threshold {threshold:g})", score, threshold
    )
