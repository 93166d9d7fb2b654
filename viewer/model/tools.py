"""The editing tool in the user's hand (shared by every view; not part of a study)."""

from __future__ import annotations

from dataclasses import dataclass, replace

NAVIGATE, BRUSH, ERASER, FILL = "navigate", "brush", "eraser", "fill"
TOOLS = (NAVIGATE, BRUSH, ERASER, FILL)
MIN_RADIUS, MAX_RADIUS = 1, 60


@dataclass(frozen=True)
class ToolSettings:
    """Which tool, the brush radius in pixels, and how many slices each side a dab also reaches."""

    tool: str = NAVIGATE
    radius: int = 8
    depth: int = 0

    def resized(self, steps: int) -> ToolSettings:
        """Radius grown or shrunk by about 15% per step (at least one pixel)."""
        factor = 1.15 ** steps
        radius = round(self.radius * factor) if round(self.radius * factor) != self.radius else self.radius + (1 if steps > 0 else -1)
        return replace(self, radius=min(max(radius, MIN_RADIUS), MAX_RADIUS))

    @property
    def edits(self) -> bool:
        return self.tool != NAVIGATE
