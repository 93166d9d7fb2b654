"""The radiologist's verdicts: a mark and a note per CT slice, a decision and a note per X-ray finding."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACCEPTED, FLAGGED, EDITED = "accepted", "flagged", "edited"
SLICE_MARKS = (ACCEPTED, FLAGGED, EDITED)
ACCEPT, REJECT = "accepted", "rejected"
FINDING_DECISIONS = (ACCEPT, REJECT)


def review_range(mask: np.ndarray, border: int = 1) -> tuple[int, ...]:
    """Slices that contain the mask or lie within ``border`` slices of one that does."""
    has_mask = np.flatnonzero(np.asarray(mask).any(axis=(1, 2)))
    near = {int(z + d) for z in has_mask for d in range(-border, border + 1)}
    return tuple(sorted(z for z in near if 0 <= z < mask.shape[0]))


@dataclass
class SliceReview:
    """Marks and notes of the axial slices under review (slice indices are 0-based)."""

    slices: tuple[int, ...]
    marks: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)

    def mark(self, z: int, mark: str | None) -> None:
        """Set (or with None clear) the mark of slice ``z``; marking a slice adds it to the review."""
        if mark is None:
            self.marks.pop(z, None)
            return
        if mark not in SLICE_MARKS:
            raise ValueError(f"unknown mark {mark!r}; expected one of {SLICE_MARKS}")
        self.marks[z] = mark
        if z not in self.slices:
            self.slices = tuple(sorted({*self.slices, z}))

    def set_note(self, z: int, text: str) -> None:
        if text.strip():
            self.notes[z] = text.strip()
        else:
            self.notes.pop(z, None)

    def next_unreviewed(self, after: int) -> int | None:
        """The first unmarked slice under review after ``after``, wrapping around; None when all are done."""
        pending = [z for z in self.slices if z not in self.marks]
        if not pending:
            return None
        later = [z for z in pending if z > after]
        return (later or pending)[0]

    def counts(self) -> dict[str, int]:
        """How many slices carry each mark, and how many are still to review."""
        counts = {mark: sum(1 for z in self.slices if self.marks.get(z) == mark) for mark in SLICE_MARKS}
        counts["unreviewed"] = sum(1 for z in self.slices if z not in self.marks)
        return counts

    @property
    def complete(self) -> bool:
        return all(z in self.marks for z in self.slices)


@dataclass
class FindingReview:
    """Accept / reject decisions and notes for the findings of a radiograph, by label index."""

    decisions: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)

    def decide(self, index: int, decision: str | None) -> None:
        if decision is None:
            self.decisions.pop(index, None)
        elif decision in FINDING_DECISIONS:
            self.decisions[index] = decision
        else:
            raise ValueError(f"unknown decision {decision!r}; expected one of {FINDING_DECISIONS}")

    def set_note(self, index: int, text: str) -> None:
        if text.strip():
            self.notes[index] = text.strip()
        else:
            self.notes.pop(index, None)


# Progress strip colours (RGB): not under review, to review, and each mark.
STRIP_COLOURS = {
    "outside": (45, 45, 45), "unreviewed": (120, 120, 120),
    ACCEPTED: (40, 170, 70), FLAGGED: (235, 120, 0), EDITED: (60, 120, 230),
}


def strip_states(review: SliceReview | None, slices: int) -> list[str]:
    """The state of every axial slice, bottom to top: 'outside', 'unreviewed' or its mark."""
    if review is None:
        return ["outside"] * slices
    under_review = set(review.slices)
    return [review.marks.get(z, "unreviewed") if z in under_review else "outside" for z in range(slices)]
