"""De-identification of DICOM headers after the DICOM Basic Application Level Confidentiality Profile
(PS3.15 Annex E): names, identifiers, dates, institutions and private tags removed or emptied, and
every instance UID replaced consistently so that references between the written objects still hold.

Pixel data is not inspected: text burned into the pixels is not removed (the report says so).
"""

from __future__ import annotations

import hashlib
import secrets

PROFILE = "DICOM PS3.15 E.1 Basic Application Level Confidentiality Profile"
PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")

# Attributes the profile removes (X) or empties (Z) and that readers here do not need.
REMOVE = {
    "AccessionNumber", "AcquisitionComments", "AcquisitionDeviceProcessingDescription", "AdditionalPatientHistory",
    "AdmittingDiagnosesDescription", "Allergies", "BranchOfService", "CountryOfResidence", "CurrentPatientLocation",
    "DerivationDescription", "DeviceSerialNumber", "EthnicGroup", "FrameComments", "ImageComments",
    "InstitutionAddress", "InstitutionName", "InstitutionalDepartmentName", "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank", "Occupation",
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientAddress", "PatientAge",
    "PatientBirthName", "PatientBirthTime", "PatientComments", "PatientInstitutionResidence",
    "PatientMotherBirthName", "PatientReligiousPreference", "PatientSize", "PatientState",
    "PatientTelephoneNumbers", "PatientWeight", "PerformedLocation", "PerformedProcedureStepDescription",
    "PerformedProcedureStepID", "PerformedStationName", "ProcedureCodeSequence", "ProtocolName",
    "ReferencedPatientSequence", "ReferencedPerformedProcedureStepSequence", "ReferencedStudySequence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "RegionOfResidence",
    "RequestAttributesSequence", "RequestedProcedureDescription", "RequestedProcedureID", "ResponsibleOrganization",
    "ResponsiblePerson", "ScheduledProcedureStepDescription", "ScheduledProcedureStepID", "SeriesDescription",
    "SmokingStatus", "SpecialNeeds", "StationName", "StudyDescription", "StudyID", "TextComments",
    "PatientSex", "PatientBirthDate", "PregnancyStatus", "AdmissionID", "ServiceEpisodeID",
}
# UIDs that name a kind of thing, not an instance: kept.
KEEP_UIDS = {
    "SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
    "ImplementationClassUID", "CodingSchemeUID", "AffectedSOPClassUID", "RequestedSOPClassUID",
    "ContextGroupExtensionCreatorUID", "MappingResourceUID",
}


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
        """De-identify ``dataset`` (and its file meta) in place."""
        from pydicom.dataset import Dataset

        dataset.remove_private_tags()
        self._clean(dataset)
        meta = getattr(dataset, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPInstanceUID"):
            meta.MediaStorageSOPInstanceUID = self.uid(str(meta.MediaStorageSOPInstanceUID))
        dataset.PatientName = self.pseudonym + "^"  # a family-name-only person name
        dataset.PatientID = self.pseudonym
        for keyword in ("PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                        "StudyDate", "StudyTime"):
            setattr(dataset, keyword, "")  # type 2 attributes: present and empty
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = PROFILE
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = PROFILE_CODE
        dataset.DeidentificationMethodCodeSequence = [code]

    def _clean(self, dataset) -> None:
        for element in list(dataset):
            keyword = element.keyword
            if keyword in REMOVE or (not keyword and element.tag.is_private):
                del dataset[element.tag]
            elif element.VR == "SQ":
                for item in element.value:
                    self._clean(item)
            elif element.VR == "PN":
                element.value = ""
            elif element.VR in ("DA", "DT", "TM"):
                element.value = ""
            elif element.VR == "UI" and keyword not in KEEP_UIDS and element.value:
                element.value = self.uid(str(element.value))
