"""The report as a reader gets it: the X-ray report carries its saliency map and says when the review is
incomplete; in the PDF no heading is left at the foot of a page without its text (read back with pypdf)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
pypdf = pytest.importorskip("pypdf")

from engine.runtime.io import find_images  # noqa: E402
from tests.conftest import data_path  # noqa: E402
from tests.test_export import classified_xray as xray_with_findings, reviewed_study  # noqa: E402
from viewer.model.review_report import build_report  # noqa: E402
from viewer.model.study import Study  # noqa: E402

HEADINGS = ("Result", "Slice by slice", "Flagged slices", "Reviewer's note", "Model", "Inference cost", "Findings",
            "Image and saliency", "Model card")


def classified_xray(decided: int) -> Study:
    study, _card = xray_with_findings()
    for index in range(decided):
        study.decide_finding(index, "accepted")
    return study


def test_the_xray_report_shows_the_saliency_of_the_selected_finding_and_warns_when_unreviewed(qapp):
    study = classified_xray(decided=3)
    maps = np.zeros((14, 8, 8), np.float32)
    maps[4, 2:4, 5:7] = 1.0
    study.set_saliency(maps, 256, 512)
    study.select_finding(4)
    report = build_report(study, None)
    label = study.classification.labels[4]
    assert "saliency.png" in report.images and "radiograph.png" in report.images
    assert f"RISE saliency for <b>{label}</b> (256 random masks, partial: 256 of 512 masks)" in report.body
    assert "The review is incomplete: 11 of 14 findings have no decision by the reader." in report.body
    from PIL import Image
    import io

    heat = np.asarray(Image.open(io.BytesIO(report.images["saliency.png"])).convert("RGB"), dtype=np.int16)
    plain = np.asarray(Image.open(io.BytesIO(report.images["radiograph.png"])).convert("RGB"), dtype=np.int16)
    differs = np.abs(heat - plain).max(axis=-1) > 30
    rows, columns = np.nonzero(differs)
    assert differs.mean() < 0.2 and columns.mean() > heat.shape[1] * 0.55 and rows.mean() < heat.shape[0] * 0.6
    complete = build_report(classified_xray(decided=14), None)
    assert "review is incomplete" not in complete.body and "No saliency map was computed" in complete.body


def long_report():
    from tests.cards import segmentation_card

    study = reviewed_study(find_images(data_path("ct", "totalseg_abd_dicom"))[0].load())
    for z in study.review.slices:  # a long report: every slice flagged with a thumbnail
        study.set_cursor(z, 256, 256)
        study.mark_slice("flagged")
    return build_report(study, segmentation_card("sadnn_seg"))


def orphaned_headings(document) -> list[str]:
    """Headings laid out on another page than the block after them (the first line or table cell of their text)."""
    from viewer.qt.report_pdf import page_of

    page, layout = document.pageSize().height(), document.documentLayout()
    layout.documentSize()
    found, block = [], document.begin()
    while block.isValid():
        following = block.next()
        if block.blockFormat().headingLevel() > 0 and following.isValid():
            here, there = layout.blockBoundingRect(block), layout.blockBoundingRect(following)
            if len({page_of(here.top(), page), page_of(here.bottom(), page), page_of(there.top(), page)}) > 1:
                found.append(block.text())
        block = following
    return found


def test_no_pdf_page_ends_with_a_heading(qapp, tmp_path, monkeypatch):
    from viewer.qt import report_pdf

    report = long_report()
    document = report_pdf.print_document(report)
    assert orphaned_headings(document) == [] and document.pageCount() >= 4
    monkeypatch.setattr(report_pdf, "keep_headings_with_their_text", lambda _document: 0)
    assert orphaned_headings(report_pdf.print_document(report)) == ["Flagged slices"]  # what it guards against
    monkeypatch.undo()
    path = tmp_path / "report.pdf"
    report_pdf.write_pdf(report, path)
    pages = pypdf.PdfReader(str(path)).pages
    assert len(pages) == document.pageCount()  # the PDF is this layout, page for page
    first_lines = [" ".join(page.extract_text().split("\n")[0].split()) for page in pages]
    assert "Flagged slices" in first_lines  # the heading opens the page its thumbnails start on
