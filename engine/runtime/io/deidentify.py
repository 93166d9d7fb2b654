"""De-identification of DICOM objects after the Basic Application Level Confidentiality Profile
(DICOM PS3.15 Annex E, every attribute of Table E.1-1 with its action).

The table is data from the standard, as the maintained ``dicom-anonymizer`` package ships it
(edition 2026c). The actions are applied here, so that one export maps every instance UID to
the same new UID and the written SEG still references the written images:

    X remove · Z empty · D dummy value · U new UID (consistent) · X/Z, X/D, Z/D, X/Z/D, X/Z/U*:
    the variant that keeps the object conformant (empty where that suffices, else a dummy)

Beyond the table: every private attribute, whole overlay (60xx) and curve (50xx) groups and
icon images are removed. Pixel data is never inspected, so an image that declares text burned
into its pixels (BurnedInAnnotation YES) is refused rather than exported as if it were anonymous.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from engine.runtime.errors import InputError

PROFILE = "DICOM PS3.15 E.1 Basic Application Level Confidentiality Profile"
PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
TABLE_EDITION = "dicomfields_2026c"
DUMMY_TEXT = "ANONYMISED"
DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000D", "CS": "ANONYMISED",
         "US": 0, "SS": 0, "UL": 0, "SL": 0, "FL": 0.0, "FD": 0.0, "IS": "0", "DS": "0", "AT": 0}
TEXT_LIMIT = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "UC": 64}
# Table categories of dicom-anonymizer -> the action applied here.
CATEGORIES = {"X_TAGS": "X", "Z_TAGS": "Z", "D_TAGS": "D", "U_TAGS": "U", "X_Z_TAGS": "Z", "X_D_TAGS": "D",
              "Z_D_TAGS": "D", "X_Z_D_TAGS": "D", "X_Z_U_STAR_TAGS": "U*"}
REMOVED_GROUPS = (range(0x5000, 0x5020, 2), range(0x6000, 0x6020, 2))  # curves, overlays


class BurnedInAnnotation(InputError):
    """The source says its pixels carry text; removing headers cannot make it anonymous."""


def declares_burned_in_text(header) -> bool:
    """True when a DICOM header (a dataset, or a Volume's metadata) says text is burned into the pixels."""
    return str(header.get("BurnedInAnnotation", "")).strip().upper() == "YES"


@lru_cache(maxsize=1)
def profile_table() -> tuple[dict[int, str], tuple[tuple[int, int, str], ...]]:
    """Table E.1-1 as (tag -> action) and (tag, mask, action) for repeating groups such as 60xx."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    table = dicom_anonymization_database_selector(TABLE_EDITION)
    exact, masked = {}, []
    for category, action in CATEGORIES.items():
        for entry in table[category]:
            if len(entry) == 2:
                exact[entry[0] << 16 | entry[1]] = action
            else:
                group, element, group_mask, element_mask = entry
                masked.append((group << 16 | element, group_mask << 16 | element_mask, action))
    return exact, tuple(masked)


def action_for(tag: int) -> str | None:
    """The action of Table E.1-1 for ``tag`` (None: not in the table, kept)."""
    exact, masked = profile_table()
    if tag in exact:
        return exact[tag]
    return next((action for value, mask, action in masked if tag & mask == value), None)


class Deidentifier:
    """Applies the profile to datasets; one instance maps each source UID to the same new UID."""

    def __init__(self, pseudonym: str | None = None):
        self.salt = secrets.token_bytes(16)  # fresh per export: new UIDs cannot be traced back
        self.pseudonym = pseudonym or "ANON-" + secrets.token_hex(4).upper()
        self._uids: dict[str, str] = {}

    def uid(self, original: str) -> str:
        """The replacement for ``original`` (the same every time within this export)."""
        if original not in self._uids:
            digest = int.from_bytes(hashlib.sha256(self.salt + original.encode()).digest()[:16], "big")
            self._uids[original] = f"2.25.{digest}"  # a UUID-derived UID (PS3.5 B.2)
        return self._uids[original]

    def apply(self, dataset) -> None:
        """De-identify ``dataset`` (and its file meta) in place; refuse burned-in annotation."""
        from pydicom.dataset import Dataset

        if declares_burned_in_text(dataset):
            raise BurnedInAnnotation(
                "the images declare text burned into their pixels (BurnedInAnnotation YES), which may identify the "
                "patient; an anonymised export cannot remove it. Export without anonymising, or remove the text first.")
        self._clean(dataset)
        meta = getattr(dataset, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPInstanceUID"):
            meta.MediaStorageSOPInstanceUID = self.uid(str(meta.MediaStorageSOPInstanceUID))
        dataset.PatientName = self.pseudonym + "^"  # a family-name-only person name
        dataset.PatientID = self.pseudonym
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = PROFILE
        dataset.LongitudinalTemporalInformationModified = "REMOVED"
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = PROFILE_CODE
        dataset.DeidentificationMethodCodeSequence = [code]

    def _clean(self, dataset) -> None:
        for element in list(dataset):
            action = "X" if _always_removed(element) else action_for(int(element.tag))
            if action == "X":
                del dataset[element.tag]
            elif action == "Z":
                element.value = [] if element.VR == "SQ" else None
            elif element.VR == "SQ":  # D, U* (instance UIDs inside are U in the table) or not listed: clean each item
                for item in element.value or []:
                    self._clean(item)
            elif action == "D":
                element.value = self._dummy(element)
            elif action == "U" and element.value:
                element.value = self._new_uids(element.value)

    def _dummy(self, element):
        if element.VR == "UI":
            return self._new_uids(element.value) if element.value else self.uid("dummy")
        if element.VR == "PN":
            return self.pseudonym + "^"
        if element.VR in DUMMY:
            return DUMMY[element.VR]
        if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            return b"\x00\x00"
        return DUMMY_TEXT[: TEXT_LIMIT.get(element.VR, len(DUMMY_TEXT))]

    def _new_uids(self, value):
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            return [self.uid(str(v)) for v in value]
        return self.uid(str(value))


def _always_removed(element) -> bool:
    """Private attributes and whole overlay / curve groups, whatever the table says of single elements."""
    group = element.tag.group
    return element.tag.is_private or any(group in groups for groups in REMOVED_GROUPS)
