"""A read-only rich-text panel (energy report, model card)."""

from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser


class HtmlPanel(QTextBrowser):
    def __init__(self, placeholder: str, parent=None):
        super().__init__(parent)
        self.placeholder = placeholder
        self.setOpenExternalLinks(False)
        self.show_html(None)

    def show_html(self, html: str | None) -> None:
        self.setHtml(html if html else f"<p><i>{self.placeholder}</i></p>")
