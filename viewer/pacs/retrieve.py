"""C-GET and C-MOVE of one series into the local cache, resumable, with progress and cancel.

The series is first listed at IMAGE level (what must arrive, and which SOP classes to negotiate), then only
the instances not yet cached are requested. Every instance is checked to belong to the series and written
atomically as it arrives; the series is marked complete only when all listed instances are on disk.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from engine.runtime.errors import Cancelled
from viewer.pacs.cache import SeriesCache
from viewer.pacs.connection import application_entity, associated, lost
from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings
from viewer.pacs.query import InstanceRecord, find_instances

UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2")
COMPRESSED = ("1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
              "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
              "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.5")
COMMON_CLASSES = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4",
                  "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.7",
                  "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.104.1")
# CT, enhanced CT, MR, CR, DX, secondary capture, SEG, Comprehensive 3D SR, encapsulated PDF: negotiated when the PACS
# does not say which SOP classes a series holds
MAX_CONTEXTS = 120  # of the 128 presentation contexts an association may propose (one is the C-GET model)
Progress = Callable[[int, int], None]


def readable_syntaxes() -> list[str]:
    """Transfer syntaxes whose pixels this installation decodes (pydicom with the pylibjpeg plugins)."""
    from pydicom.pixels import get_decoder

    def available(uid: str) -> bool:
        try:
            return get_decoder(uid).is_available
        except (NotImplementedError, ValueError):
            return False

    return [uid for uid in (*UNCOMPRESSED, *COMPRESSED) if uid in UNCOMPRESSED or available(uid)]


def retrieve_series(node: PacsNode, settings: PacsSettings, study_uid: str, series_uid: str, root: Path,
                    progress: Progress = lambda done, total: None, cancelled: Callable[[], bool] = lambda: False) -> SeriesCache:
    """Bring one series into the cache at ``root`` (C-GET or C-MOVE as the settings say); its SeriesCache when complete.

    The PACS is asked what the series holds every time, so a series that grew since an earlier retrieve is not
    opened from the cache as it was. Raises PacsError when images are missing at the end (what arrived is kept) and
    Cancelled when cancelled.
    """
    cache = SeriesCache(root, study_uid, series_uid)
    listed = find_instances(node, settings, study_uid, series_uid, cancelled)
    if not listed:
        raise PacsError(f"{node.name} lists no images in this series")
    cache.forget_complete()
    expected = {record.sop_instance_uid for record in listed}
    receiver = _Receiver(cache, expected, progress, cancelled)
    missing = expected - receiver.before
    if missing:
        fetch = _web if node.dicomweb_url else _get if settings.retrieve_with == "C-GET" else _move
        outcome = fetch(node, settings, listed, missing, receiver)
        _check(node, cache, expected, receiver, outcome)
    cache.mark_complete(expected, node.describe())
    return cache


class _Receiver:
    """The C-STORE handler of a retrieve: checks, writes, counts; refuses what was not asked for."""

    def __init__(self, cache: SeriesCache, expected: set[str], progress: Progress, cancelled: Callable[[], bool]):
        self.cache, self.expected, self.progress, self.cancelled = cache, expected, progress, cancelled
        self.before = cache.present() & expected
        self.arrived: set[str] = set()
        self.refused: list[str] = []
        self.lock = threading.Lock()
        progress(len(self.before), len(expected))

    def __call__(self, event) -> int:
        """The C-STORE handler (pynetdicom calls it on its own threads)."""
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        return self.receive(dataset)

    def receive(self, dataset) -> int:
        """Check and keep one instance; a DIMSE status (0 stored, else refused)."""
        if self.cancelled():
            return 0xA700  # refused: the retrieve is being cancelled
        try:
            if str(dataset.get("SOPInstanceUID", "")) not in self.expected:
                raise PacsError("an instance that was not asked for")
            self.cache.store(dataset)
        except (PacsError, OSError, ValueError) as err:
            with self.lock:
                self.refused.append(str(err))
            return 0xC211 if isinstance(err, PacsError) else 0xA700
        with self.lock:
            self.arrived.add(str(dataset.SOPInstanceUID))
            self.progress(len(self.before | self.arrived), len(self.expected))
        return 0x0000


def _identifier(listed: list[InstanceRecord], missing: set[str]):
    """SERIES level for a whole series, IMAGE level with the list of UIDs for the rest of one."""
    from pydicom.dataset import Dataset

    identifier = Dataset()
    first = listed[0]
    identifier.StudyInstanceUID = first.study_uid
    identifier.SeriesInstanceUID = first.series_uid
    if len(missing) == len(listed):
        identifier.QueryRetrieveLevel = "SERIES"
    else:
        identifier.QueryRetrieveLevel = "IMAGE"
        identifier.SOPInstanceUID = sorted(missing)
    return identifier


def _storage_contexts(listed: list[InstanceRecord]) -> list[tuple[str, list[str]]]:
    """(SOP class, transfer syntaxes) pairs to negotiate: uncompressed first, then each compression we decode."""
    syntaxes = readable_syntaxes()
    plain = [uid for uid in syntaxes if uid in UNCOMPRESSED]
    classes = sorted({record.sop_class_uid for record in listed if record.sop_class_uid})
    if len(classes) < len({record.sop_class_uid for record in listed}):
        classes = sorted({*classes, *COMMON_CLASSES})
    contexts = [(sop, plain) for sop in classes]
    contexts += [(sop, [uid]) for uid in syntaxes if uid not in UNCOMPRESSED for sop in classes]
    return contexts[:MAX_CONTEXTS]


def _get(node: PacsNode, settings: PacsSettings, listed, missing: set[str], receiver: _Receiver) -> dict:
    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as Model

    ae = application_entity(settings)
    ae.add_requested_context(Model)
    contexts = _storage_contexts(listed)
    for sop, syntaxes in contexts:
        ae.add_requested_context(sop, syntaxes)
    roles = [build_role(sop, scp_role=True) for sop in sorted({sop for sop, _ in contexts})]
    with associated(ae, node, settings, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, receiver)]) as association:
        return _follow(association.send_c_get(_identifier(listed, missing), Model), association, node, settings, receiver)


def _move(node: PacsNode, settings: PacsSettings, listed, missing: set[str], receiver: _Receiver) -> dict:
    from pynetdicom import evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as Model

    server_ae = application_entity(settings)
    for sop, syntaxes in _storage_contexts(listed):
        server_ae.add_supported_context(sop, syntaxes)
    try:
        server = server_ae.start_server(("", settings.store_port), block=False, evt_handlers=[(evt.EVT_C_STORE, receiver)])
    except OSError as err:
        raise PacsError(f"cannot receive on port {settings.store_port} for C-MOVE ({err.strerror or err}): "
                        "another program uses it; choose another port or retrieve with C-GET") from err
    try:
        ae = application_entity(settings)
        ae.add_requested_context(Model)
        with associated(ae, node, settings) as association:
            answers = association.send_c_move(_identifier(listed, missing), settings.ae_title, Model)
            return _follow(answers, association, node, settings, receiver)
    finally:
        server.shutdown()


def _web(node: PacsNode, settings: PacsSettings, listed, missing: set[str], receiver: _Receiver) -> dict:
    from viewer.pacs.dicomweb import retrieve

    first = listed[0]
    return retrieve(node, settings, first.study_uid, first.series_uid, missing, receiver.receive, receiver.cancelled)


def _follow(answers, association, node: PacsNode, settings: PacsSettings, receiver: _Receiver) -> dict:
    """Read the C-GET/C-MOVE responses to the end; the final status and sub-operation counts."""
    outcome: dict = {"status": None, "failed": 0, "lost": False}
    for status, _ in answers:
        if receiver.cancelled():
            association.abort()
            raise Cancelled()
        if status is None or "Status" not in status:
            break
        outcome["status"] = int(status.Status)
        outcome["failed"] = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        if outcome["status"] == 0xA801:
            raise PacsError(f"{node.describe()} does not know where to send the images: add this viewer "
                            f"(AE title {settings.ae_title}, this computer, port {settings.store_port}) to its "
                            "DICOM modalities, or retrieve with C-GET")
    final = outcome["status"] not in (None, 0xFF00, 0xFF01)  # the responses ended with a final status
    outcome["lost"] = not final or (lost(association) and outcome["status"] not in (0x0000, 0xB000))
    return outcome


def _check(node: PacsNode, cache: SeriesCache, expected: set[str], receiver: _Receiver, outcome: dict) -> None:
    if receiver.cancelled():
        raise Cancelled()
    here = cache.present() & expected
    if here == expected:
        return
    kept = f"{len(here)} of {len(expected)} images are here and kept; retrieve again to fetch the rest"
    if outcome["lost"]:
        raise PacsError(f"the connection to {node.describe()} was lost during the retrieve: {kept}")
    if receiver.refused:
        raise PacsError(f"{len(receiver.refused)} image(s) were refused ({receiver.refused[0]}): {kept}")
    reason = (f"it could not send {outcome['failed']} image(s): a common cause is a compression this viewer cannot "
              "read and the PACS cannot convert" if outcome["failed"] else f"it answered with status 0x{outcome['status']:04X}")
    raise PacsError(f"{node.describe()} did not send the whole series ({reason}): {kept}")
