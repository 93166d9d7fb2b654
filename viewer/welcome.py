"""What the app says on its first run, and the marker that it has been said."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "SADNN_CONFIG"

WELCOME_HTML = (
    "<h2>SaDNN Viewer</h2>"
    "<p>Opens CT volumes (DICOM, NIfTI, NRRD, MHA) and chest X-rays (DICOM, PNG, JPEG) and runs two small "
    "int8 self-attention networks on this computer's CPU: a <b>liver segmentation</b> for CT and "
    "<b>14 chest X-ray findings</b> with RISE saliency maps. No image leaves this computer.</p>"
    "<p>You verify every prediction: mark each slice accepted, flagged or edited, correct the mask with "
    "the brush, accept or reject each finding. Your review is saved as you work and can be exported "
    "(NIfTI, DICOM SEG, PDF report), anonymised if you wish. The Energy tab shows what each inference cost.</p>"
    "<p style='color:#c00'><b>The bundled models are demonstration models trained on very small public "
    "datasets. They are not for clinical use.</b></p>"
)
SAMPLES_HTML = "<p>Try it on the bundled samples: a real abdominal CT and a real chest radiograph.</p>"
NO_SAMPLES_HTML = ("<p>The sample images are not installed with this copy (from the source tree: <code>make samples</code>). "
                   "Open your own study with <b>File &gt; Open file</b> (Ctrl+O) or <b>Open DICOM folder</b>.</p>")


def welcome_html(samples_present: bool) -> str:
    """The welcome text; it offers the samples only where they are installed."""
    return WELCOME_HTML + (SAMPLES_HTML if samples_present else NO_SAMPLES_HTML)


def config_folder() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("sadnn-viewer", appauthor=False))


def is_first_run() -> bool:
    return not (config_folder() / "welcomed").exists()


def mark_welcomed() -> None:
    """Remember that the welcome was shown (best effort: a read-only profile just sees it again)."""
    try:
        folder = config_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "welcomed").write_text("1", encoding="utf-8")
    except OSError:
        pass
