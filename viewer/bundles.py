"""Where the viewer finds its model bundles, and loading them with every signature and checksum verified."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.runtime.bundle import Bundle, load_bundle
from engine.runtime.errors import BundleError

MODELS_ENV = "SADNN_MODELS"


def resources_folder(name: str, override_env: str) -> Path:
    """$``override_env``, else resources/``name`` inside the frozen app or next to the source tree."""
    if os.environ.get(override_env):
        return Path(os.environ[override_env])
    root = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
    return root / "resources" / name


def models_folder() -> Path:
    """$SADNN_MODELS, else resources/models inside the frozen app or next to the source tree."""
    return resources_folder("models", MODELS_ENV)


@dataclass
class InstalledModels:
    """The verified bundle for each task, and why any other bundle was refused."""

    by_task: dict[str, Bundle] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    folder: Path | None = None

    def get(self, task: str) -> Bundle | None:
        return self.by_task.get(task)


def installed_models(folder: Path | None = None) -> InstalledModels:
    """Load every bundle under ``folder``; a tampered, unsigned, untrusted or broken bundle is reported, never used."""
    folder = folder or models_folder()
    found = InstalledModels(folder=folder)
    if not folder.is_dir():
        found.problems.append(f"no model folder at {folder}")
        return found
    for path in sorted(p for p in folder.iterdir() if (p / "card.json").is_file()):
        try:
            bundle = load_bundle(path)
        except BundleError as err:
            found.problems.append(f"{path.name}: {err}")
            continue
        found.by_task.setdefault(bundle.card.task, bundle)
    return found
