"""The views laid out as the reader wants them: one large and two small, three in a row, 2 x 2, or one maximised."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

# name -> cells (row, column, row span, column span) for axial, coronal, sagittal; and the stretch of each column
LAYOUTS = {
    "1+2": ({"axial": (0, 0, 2, 1), "coronal": (0, 1, 1, 1), "sagittal": (1, 1, 1, 1)}, (3, 2)),
    "1x3": ({"axial": (0, 0, 1, 1), "coronal": (0, 1, 1, 1), "sagittal": (0, 2, 1, 1)}, (1, 1, 1)),
    "2x2": ({"axial": (0, 0, 1, 1), "coronal": (0, 1, 1, 1), "sagittal": (1, 0, 1, 1)}, (1, 1)),
}
LAYOUT_TITLES = {"1+2": "One large, two small", "1x3": "1 x 3 (side by side)", "2x2": "2 x 2", "1x1": "1 x 1 (axial only)"}


class ViewGrid(QWidget):
    """Places the views of the open study; ``maximised`` shows one alone until toggled back."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(3)
        self.views: dict[str, QWidget] = {}
        self.layout_name = "1+2"
        self.maximised: str | None = None
        self.spare = QLabel(self)  # the empty fourth cell of 2 x 2
        self.spare.setStyleSheet("background: black;")

    def set_views(self, views: dict[str, QWidget]) -> None:
        for view in self.views.values():
            view.setParent(None)
            view.deleteLater()
        self.views, self.maximised = views, None
        self._place()

    def set_layout(self, name: str) -> None:
        if name not in LAYOUT_TITLES:
            raise ValueError(f"unknown layout {name!r}; expected one of {tuple(LAYOUT_TITLES)}")
        self.layout_name, self.maximised = name, None
        self._place()

    def toggle_maximise(self, name: str) -> None:
        """Show ``name`` alone, or, when it already is, go back to the layout."""
        self.maximised = None if self.maximised == name or name not in self.views else name
        self._place()

    def visible_views(self) -> list[str]:
        return [name for name, view in self.views.items() if not view.isHidden()]

    def _place(self) -> None:
        for index in range(self.grid.columnCount()):
            self.grid.setColumnStretch(index, 0)
        while self.grid.count():
            self.grid.takeAt(0)
        alone = self.maximised or ("axial" if self.layout_name == "1x1" or len(self.views) == 1 else None)
        if alone is not None:
            cells, stretch = {alone: (0, 0, 1, 1)}, (1,)
        else:
            cells, stretch = LAYOUTS[self.layout_name]
        for name, view in self.views.items():
            view.setParent(self)  # before showing: a widget shown without a parent becomes a window of its own
            if name in cells:
                self.grid.addWidget(view, *cells[name])
            view.setVisible(name in cells)
        spare = alone is None and self.layout_name == "2x2"
        if spare:
            self.grid.addWidget(self.spare, 1, 1)
        self.spare.setVisible(spare)
        for column, factor in enumerate(stretch):
            self.grid.setColumnStretch(column, factor)
