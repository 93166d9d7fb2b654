"""What the held-out data says about each finding of a classifier: AUROC with its 95% CI, and whether the
model is shown to be better than chance on it ("validated") or not.

The rule is the engine's, so the training report, the model card panel and the findings table agree:
a finding is validated only with at least ``MIN_POSITIVES`` held-out positives and a 95% CI whose lower
bound lies above 0.5.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

MIN_POSITIVES = 10  # below this, a held-out AUROC is too unstable to call a finding validated


@dataclass(frozen=True)
class FindingEvidence:
    """Held-out AUROC of one finding, its 95% CI (patient bootstrap) and how many held-out positives it rests on."""

    auroc: float
    low: float
    high: float
    positives: int

    @property
    def validated(self) -> bool:
        return self.positives >= MIN_POSITIVES and self.low > 0.5

    @property
    def reason(self) -> str:
        """Why the finding is not validated ('' when it is)."""
        if self.validated:
            return ""
        if self.positives < MIN_POSITIVES:
            return f"only {self.positives} held-out positive{'s' * (self.positives != 1)} (at least {MIN_POSITIVES} needed)"
        if math.isnan(self.low):
            return "no confidence interval recorded"
        return "95% CI includes chance (0.5)"

    def describe(self) -> str:
        """E.g. '0.72 (0.61-0.83)', or 'n/a' without an AUROC."""
        if math.isnan(self.auroc):
            return "n/a"
        if math.isnan(self.low):
            return f"{self.auroc:.2f}"
        return f"{self.auroc:.2f} ({self.low:.2f}-{self.high:.2f})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def finding_evidence(metrics: dict, labels: tuple[str, ...], precision: str = "int8") -> tuple[FindingEvidence | None, ...]:
    """Per label, the evidence recorded in a card's ``metrics`` (None where the card has none for it)."""
    per_class = metrics.get("full", {}).get(precision, {}).get("per_class", {})
    evidence = []
    for label in labels:
        row = per_class.get(label)
        if not isinstance(row, dict) or "auroc" not in row:
            evidence.append(None)
            continue
        low, high = row.get("auroc_ci", (math.nan, math.nan))
        evidence.append(FindingEvidence(_float(row["auroc"]), _float(low), _float(high), int(row.get("positives", 0))))
    return tuple(evidence)


def _float(value) -> float:
    return math.nan if value is None else float(value)
