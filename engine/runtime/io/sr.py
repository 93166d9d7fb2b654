"""The liver measurements as a DICOM SR (TID 1500 measurement report, highdicom) that references the SEG and
its source series: volume, mean and SD of the HU inside the mask, and the radiologist's review status."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from engine.runtime.atomic import write_atomic

SOFTWARE = "SaDNN Viewer"
SCHEME = "99SADNN"  # a private coding scheme (DICOM PS3.16 8.2: private designators start with 99)
REVIEW_STATUS = ("R-1", SCHEME, "Review status")
REVIEW_VALUES = {  # what the radiologist did with the model's mask, as codes
    "complete": ("R-2", SCHEME, "Every slice reviewed by a radiologist"),
    "partial": ("R-3", SCHEME, "Partly reviewed by a radiologist"),
    "none": ("R-4", SCHEME, "Not reviewed: model output"),
}


@dataclass(frozen=True)
class LiverMeasurements:
    """What the SR states; ``review`` is a key of REVIEW_VALUES, ``review_text`` says it in words."""

    volume_ml: float
    mean_hu: float
    sd_hu: float
    review: str
    review_text: str


def write_measurement_report(segmentation_path: Path, source_headers: list, measurements: LiverMeasurements,
                             model: dict[str, str], path: Path) -> None:
    """A Comprehensive 3D SR of ``measurements`` for segment 1 of the SEG at ``segmentation_path``.

    ``source_headers`` are the (possibly de-identified) headers the SEG references; the SR carries the
    same patient, study and UIDs, so it files beside the SEG in the same study.
    """
    import highdicom as hd
    import pydicom

    segmentation = pydicom.dcmread(segmentation_path)
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Liver"),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=segmentation.SOPClassUID, sop_instance_uid=segmentation.SOPInstanceUID, segment_number=1,
            source_series=hd.sr.SourceSeriesForSegmentation(source_headers[0].SeriesInstanceUID)),
        finding_type=_code(("10200004", "SCT", "Liver")),
        algorithm_id=hd.sr.AlgorithmIdentification(name=model.get("name", "unknown"), version=model.get("version", "unknown")),
        measurements=_measurements(measurements),
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(_code(REVIEW_STATUS), _code(REVIEW_VALUES[measurements.review]))],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=None, observer_device_context=hd.sr.ObserverContext(
            observer_type=_code(("121007", "DCM", "Device")),
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=hd.UID(), name=SOFTWARE, model_name=model.get("name", "unknown")))),
        procedure_reported=_code(("77477000", "SCT", "Computerized tomography")),
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*source_headers, segmentation], content=report, series_instance_uid=hd.UID(), series_number=9902,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=SOFTWARE, is_complete=measurements.review == "complete",
    )
    sr.SeriesDescription = f"Liver measurements ({measurements.review_text})"[:64]
    buffer = io.BytesIO()
    sr.save_as(buffer)
    write_atomic(Path(path), buffer.getvalue())


def _measurements(values: LiverMeasurements) -> list:
    import highdicom as hd

    rows = [(("118565006", "SCT", "Volume"), values.volume_ml, ("ml", "UCUM", "milliliter"))]
    if values.mean_hu == values.mean_hu:  # no HU statistics for an empty mask (NaN)
        hu = ("[hnsf'U]", "UCUM", "Hounsfield unit")
        rows += [(("373098007", "SCT", "Mean"), values.mean_hu, hu), (("386136009", "SCT", "Standard Deviation"), values.sd_hu, hu)]
    return [hd.sr.Measurement(name=_code(name), value=float(value), unit=_code(unit)) for name, value, unit in rows]


def _code(triple: tuple[str, str, str]):
    import highdicom as hd

    value, scheme, meaning = triple
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def read_measurement_report(path: Path) -> dict[str, float | str]:
    """The numbers and review status back from an SR this module wrote (for tests and for re-opening a result)."""
    import highdicom as hd

    sr = hd.sr.srread(path)
    group = sr.content.get_volumetric_roi_measurement_groups()[0]  # type: ignore[attr-defined]
    values: dict[str, float | str] = {m.name.meaning: float(m.value) for m in group.get_measurements()}
    for evaluation in group.get_qualitative_evaluations():
        values[evaluation.name.meaning] = evaluation.value.meaning
    return values
