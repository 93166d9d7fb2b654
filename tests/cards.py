"""Model cards for bundles built in tests."""

from engine.runtime.card import InputContract, ModelCard
from engine.runtime.labels import CHESTXRAY14, LIVER

TEST_USE = "test bundle with random weights; not for clinical use"


def classification_card(architecture: str = "sadnn_cls", size: int = 512) -> ModelCard:
    contract = InputContract("CR/DX", (size, size), "mean_std", mean=0.5149, std=0.2530)
    return ModelCard(
        name=f"{architecture}-test", version="0.0.0", architecture=architecture, task="classification",
        input=contract, labels=CHESTXRAY14, thresholds=(0.5,) * 14, intended_use=TEST_USE,
        model_args={} if size == 512 else {"img_size": size},
        training={"data": "none (random initialisation)", "studies": {"00000001_000.png": TRAINED_XRAY.fingerprint}},
        metrics=HELD_OUT_EVIDENCE,
    )


class _TrainedXray:
    """The fingerprint of the one X-ray the test classifier's card claims it was trained on (read when first asked)."""

    @property
    def fingerprint(self) -> str:
        from engine.runtime.io import read_image_file
        from tests.conftest import data_path

        return read_image_file(data_path("cxr", "nih_txv", "00000001_000.png")).fingerprint


TRAINED_XRAY = _TrainedXray()

# What a card records per finding (as engine-train quantise writes it): one finding validated, one on too few
# positives, one whose CI includes chance; the other eleven have nothing recorded.
HELD_OUT_EVIDENCE = {"full": {"int8": {"per_class": {
    "Effusion": {"auroc": 0.74, "auroc_ci": [0.66, 0.81], "positives": 54},
    "Mass": {"auroc": 0.91, "auroc_ci": [0.80, 0.99], "positives": 3},
    "Atelectasis": {"auroc": 0.58, "auroc_ci": [0.45, 0.70], "positives": 18},
}}}}


def segmentation_card(architecture: str) -> ModelCard:
    contract = InputContract("CT", (256, 256), "hu_window", window=(-160.0, 240.0), geometry="axial slices resized to 256x256")
    return ModelCard(
        name=f"{architecture}-test", version="0.0.0", architecture=architecture, task="segmentation",
        input=contract, labels=LIVER, thresholds=(0.5, 0.5), intended_use=TEST_USE,
        training={"data": "none (random initialisation)"},
    )
