"""The report as PDF (A4) and as a picture of its first page, laid out by Qt's rich-text engine."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

from viewer.model.report import Report

DPI = 150


def report_document(report: Report) -> QTextDocument:
    """The report as a QTextDocument with its images registered under their names."""
    document = QTextDocument()
    for name, png in report.images.items():
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), QImage.fromData(png))
    document.setHtml(report.html(embed=False))
    return document


def write_pdf(report: Report, path: Path) -> None:
    """An A4 PDF of the report at ``path``."""
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(report.title)
    writer.setCreator("SaDNN Viewer")
    document = report_document(report)
    document.print_(writer)


def first_page(report: Report, width: int = 794) -> QImage:
    """The first A4 page (white, 96 dpi by default) as laid out for print."""
    height = round(width * 297 / 210)
    document = report_document(report)
    document.setPageSize(QSizeF(width, height))
    document.setDocumentMargin(40)
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(0xFFFFFF)
    painter = QPainter(image)
    document.drawContents(painter)
    painter.end()
    return image
