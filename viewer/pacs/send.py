"""C-STORE: sending DICOM files (a review's SEG, SR and PDF report, or a de-identified copy) to a PACS node."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from engine.runtime.errors import Cancelled
from viewer.pacs.connection import application_entity, associated, lost
from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings

WARNINGS = (0xB000, 0xB006, 0xB007)  # stored, with coercion or elements discarded
FAILURES = {0xA700: "the PACS is out of storage", 0xA900: "the data do not match the SOP class",
            0xC000: "the PACS cannot understand it", 0x0122: "the PACS does not accept this kind of object",
            0x0124: "the PACS refuses it (not authorised)", 0x0117: "the instance UID is invalid"}


def send_files(node: PacsNode, settings: PacsSettings, paths: list[Path],
               progress: Callable[[int, int], None] = lambda done, total: None,
               cancelled: Callable[[], bool] = lambda: False) -> int:
    """Store every file in ``paths`` on ``node`` over one association; the number stored.

    Raises PacsError naming the first file the PACS did not store (the others are still tried) or a lost
    connection, Cancelled when cancelled.
    """
    if node.dicomweb_url:
        from viewer.pacs.dicomweb import send

        failures = send(node, settings, paths, progress, cancelled)
    else:
        failures = _store(node, settings, paths, progress, cancelled)
    stored = len(paths) - len(failures)
    if failures:
        raise PacsError(f"{node.describe()} stored {stored} of {len(paths)} files; not stored: {'; '.join(failures)}")
    return stored


def _store(node: PacsNode, settings: PacsSettings, paths: list[Path], progress: Callable[[int, int], None],
           cancelled: Callable[[], bool]) -> list[str]:
    """C-STORE of each file over one association; what was not stored and why ("name: reason")."""
    import pydicom

    datasets = [pydicom.dcmread(path) for path in paths]
    ae = application_entity(settings)
    for sop, syntax in sorted({(str(d.SOPClassUID), str(d.file_meta.TransferSyntaxUID)) for d in datasets}):
        ae.add_requested_context(sop, [syntax])
    failures: list[str] = []
    stored = 0
    with associated(ae, node, settings) as association:
        for done, (path, dataset) in enumerate(zip(paths, datasets), start=1):
            if cancelled():
                association.abort()
                raise Cancelled()
            try:
                status = association.send_c_store(dataset)
            except ValueError:  # no accepted presentation context for this SOP class and transfer syntax
                failures.append(f"{Path(path).name}: the PACS does not accept {dataset.SOPClassUID.name} objects")
                progress(done, len(paths))
                continue
            if lost(association) or not status:
                raise PacsError(f"the connection to {node.describe()} was lost after {stored} of {len(paths)} files "
                                f"were stored ({Path(path).name} was being sent)")
            code = int(status.Status)
            if code == 0x0000 or code in WARNINGS:
                stored += 1
            else:
                failures.append(f"{Path(path).name}: {FAILURES.get(code, f'status 0x{code:04X}')}")
            progress(done, len(paths))
    return failures
