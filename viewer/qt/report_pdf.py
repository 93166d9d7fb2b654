"""The report as PDF (A4) and as a picture of its first page, laid out by Qt's rich-text engine."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextCursor, QTextDocument, QTextFormat

from viewer.model.review_report import Report

DPI = 150
SCREEN_DPI = 96  # the unit of a QTextDocument's layout


def report_document(report: Report) -> QTextDocument:
    """The report as a QTextDocument with its images registered under their names."""
    document = QTextDocument()
    for name, png in report.images.items():
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), QImage.fromData(png))
    document.setHtml(report.html(embed=False))
    return document


A4_LAYOUT = QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait, QMarginsF(15, 15, 15, 15),
                        QPageLayout.Unit.Millimeter)


def print_document(report: Report) -> QTextDocument:
    """The report laid out on A4 pages (inside the margins, in the document's 96-dpi units), headings kept with
    their text: QTextDocument.print_ prints this layout as it is."""
    document = report_document(report)
    paint = A4_LAYOUT.paintRect(QPageLayout.Unit.Point)
    document.setPageSize(QSizeF(paint.width() * SCREEN_DPI / 72, paint.height() * SCREEN_DPI / 72))
    document.setDocumentMargin(0)  # the page layout has the margins
    keep_headings_with_their_text(document)
    return document


def write_pdf(report: Report, path: Path) -> None:
    """An A4 PDF of the report at ``path``."""
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    writer.setPageLayout(A4_LAYOUT)
    writer.setTitle(report.title)
    writer.setCreator("SaDNN Viewer")
    print_document(report).print_(writer)


def first_page(report: Report, width: int = 794) -> QImage:
    """The first A4 page (white, 96 dpi by default) as laid out for print."""
    height = round(width * 297 / 210)
    document = report_document(report)
    document.setPageSize(QSizeF(width, height))
    document.setDocumentMargin(40)
    keep_headings_with_their_text(document)
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(0xFFFFFF)
    painter = QPainter(image)
    document.drawContents(painter)
    painter.end()
    return image


def keep_headings_with_their_text(document: QTextDocument) -> int:
    """Move every heading whose next block (text, or the first cell of a table) would start on a later page to that
    page; the document must already have its page size. Returns how many headings moved."""
    page = document.pageSize().height()
    layout = document.documentLayout()
    moved = 0
    block = document.begin()
    while block.isValid():
        following = block.next()
        if block.blockFormat().headingLevel() > 0 and following.isValid():
            layout.documentSize()  # lays the whole document out (it is laid out lazily)
            here, there = layout.blockBoundingRect(block).top(), layout.blockBoundingRect(following).top()
            if page_of(here, page) != page_of(there, page):
                heading = block.blockFormat()
                heading.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                QTextCursor(block).setBlockFormat(heading)
                moved += 1
        block = following
    return moved


def page_of(y: float, page_height: float) -> int:
    """The page a layout position falls on (half a pixel of rounding at a page's top edge belongs to that page)."""
    return int((y + 0.5) // page_height)
