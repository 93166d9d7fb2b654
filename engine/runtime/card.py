"""The model card: a declarative JSON description of a bundle, validated on load.

It states what the model is (architecture, labels, thresholds), what it expects (input
contract), how it was quantised, what it costs (profile), what it was trained on and how well
it did on held-out data, for what use it is fit, the software versions, and the SHA-256 of
every file of the bundle. Nothing in it is ever evaluated as code.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from engine.runtime.errors import BundleError

FORMAT_VERSION = 1
TASKS = ("classification", "segmentation")
NORMALISATIONS = ("mean_std", "hu_window")


@dataclass(frozen=True)
class Acceptance:
    """What studies a model may be run on, machine-readably (checked by ``engine.runtime.contract``).

    Attributes:
        description: the kind of study in words ("abdominal CT", "PA or AP chest radiographs").
        modalities: DICOM modalities accepted (CT; CR, DX...).
        body_parts: BodyPartExamined values (or enhanced Frame Anatomy regions) accepted, upper case.
        views: ViewPosition values accepted (PA, AP), for radiographs.
        planes: acquisition planes accepted (axial), for cross-sectional series.
        pixel_spacing_mm: (min, max) in-plane pixel size in mm; None accepts any, including unknown.
        min_slices: the fewest slices a volume must have.
    """

    description: str = ""
    modalities: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()
    views: tuple[str, ...] = ()
    planes: tuple[str, ...] = ()
    pixel_spacing_mm: tuple[float, float] | None = None
    min_slices: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Acceptance":
        tuples = {key: tuple(data[key]) for key in ("modalities", "body_parts", "views", "planes", "pixel_spacing_mm")
                  if data.get(key) is not None}
        return cls(**{**data, **tuples})


@dataclass(frozen=True)
class InputContract:
    """What the network expects and how an image is brought to it.

    Attributes:
        modality: e.g. "CT" or "CR/DX".
        size: network input (height, width) in pixels.
        normalisation: "mean_std" (scale to [0, 1] by the image's own range, then (x - mean) / std)
            or "hu_window" (clip Hounsfield units to ``window``, scale to [0, 1]).
        mean, std: for "mean_std".
        window: (low, high) HU for "hu_window".
        pixel_spacing_mm: when set, each slice is resampled to this many mm per input pixel and centre-cropped
            or padded (with air) to ``size``, so anatomy has the same size in pixels on every scanner and field
            of view; when None, the whole slice is resized to ``size`` (older bundles).
        geometry: how source geometry maps to the input and back, in words.
        accepts: which studies the model may be run on (None: only the modality is checked).
    """

    modality: str
    size: tuple[int, int]
    normalisation: str
    mean: float | None = None
    std: float | None = None
    window: tuple[float, float] | None = None
    pixel_spacing_mm: float | None = None
    geometry: str = ""
    accepts: Acceptance | None = None

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise BundleError(f"unknown normalisation {self.normalisation!r}; expected one of {NORMALISATIONS}")
        if self.normalisation == "mean_std" and (self.mean is None or not self.std):
            raise BundleError("normalisation 'mean_std' needs a mean and a non-zero std")
        if self.normalisation == "hu_window" and (self.window is None or self.window[0] >= self.window[1]):
            raise BundleError("normalisation 'hu_window' needs a window (low, high) with low < high")
        if self.pixel_spacing_mm is not None and not self.pixel_spacing_mm > 0:
            raise BundleError(f"pixel_spacing_mm must be positive, got {self.pixel_spacing_mm}")


@dataclass(frozen=True)
class ModelCard:
    """Everything a user and the engine need to know about a bundle."""

    name: str
    version: str
    architecture: str
    task: str
    input: InputContract
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    intended_use: str
    model_args: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    quantisation: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    postprocessing: tuple[str, ...] = ()  # segmentation: engine.runtime.postprocess steps, in order
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise BundleError(f"unknown task {self.task!r}; expected one of {TASKS}")
        if len(self.thresholds) != len(self.labels):
            raise BundleError(f"{len(self.labels)} labels but {len(self.thresholds)} thresholds")
        if self.postprocessing:
            from engine.runtime.postprocess import check_steps

            check_steps(self.postprocessing)

    def study_role(self, fingerprint: str) -> tuple[str, str | None]:
        """What the study with this ``Volume.fingerprint`` was to this model: ("training", name), ("held-out", name),
        or ("unseen", None) for a study the card does not list."""
        for role, key in (("training", "studies"), ("held-out", "held_out_studies")):
            studies = self.training.get(key)
            if isinstance(studies, dict):
                name = next((name for name, known in studies.items() if known == fingerprint), None)
                if name is not None:
                    return role, name
        return "unseen", None

    def training_study(self, fingerprint: str) -> str | None:
        """The name under which the study with this ``Volume.fingerprint`` was in the training data, if it was."""
        role, name = self.study_role(fingerprint)
        return name if role == "training" else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        """Validate and build a card; raises ``BundleError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise BundleError("card.json must hold a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(f"card format version {version!r} is not supported (this engine reads {FORMAT_VERSION})")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [key for key in required if key not in data]
        if missing:
            raise BundleError(f"card.json lacks {', '.join(missing)}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise BundleError(f"card.json has unknown fields {', '.join(sorted(unknown))}")
        try:
            contract_data = dict(data["input"])
            contract_data["size"] = tuple(contract_data["size"])
            if contract_data.get("window") is not None:
                contract_data["window"] = tuple(contract_data["window"])
            if contract_data.get("accepts") is not None:
                contract_data["accepts"] = Acceptance.from_dict(dict(contract_data["accepts"]))
            contract = InputContract(**contract_data)
            return cls(**{
                **data,
                "input": contract,
                "labels": tuple(data["labels"]),
                "thresholds": tuple(float(t) for t in data["thresholds"]),
                "postprocessing": tuple(data.get("postprocessing", ())),
            })
        except (TypeError, KeyError, ValueError) as err:
            raise BundleError(f"card.json is malformed: {err}") from err
