"""Training data as lazy datasets over prepared shards on disk, read one row at a time.

A split is a list of shards. A shard (one CT case's slices, or a block of radiographs) is prepared once
(read, HU-windowed or normalised, resampled: exactly what the engine feeds the model) into ``inputs.npy``
and ``targets.npy`` in a cache folder, under a key made of its source files (path, size, modification time),
the input contract and ``PREPARATION``. A later run, fold or split that needs the same shard reuses it.

Rows are read with positioned file reads, not a memory map: the pages stay in the operating system's file
cache, so this process's resident memory does not grow with the dataset (a memory map would count every
page it touched). Peak memory is one shard while it is prepared, then a batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

PREPARATION = 2  # bump when the preparation of inputs or targets changes: every shard is then rebuilt
SHARD_BYTES = 64 * 2**20  # radiographs per shard: as many as fill this many bytes of inputs
META = "meta.json"


@dataclass(frozen=True)
class Prepared:
    """What preparing a shard gives: inputs (n, 1, H, W) float32, targets (n, 14) float32 or (n, H, W) uint8, the
    patient or case of each row, and the fingerprint of each study it read."""

    inputs: np.ndarray
    targets: np.ndarray
    groups: list[str]
    studies: dict[str, str]
    voxel_mm: dict[str, list[float]] = field(default_factory=dict)  # segmentation: case -> (z, y, x) mm of its targets


@dataclass(frozen=True)
class ShardSource:
    """A shard not yet read: its name (for progress), its sources and how to prepare it."""

    name: str
    sources: tuple[Path, ...]
    recipe: str  # everything besides the sources that shapes the result (contract, margin, labels)
    prepare: Callable[[], Prepared] = field(compare=False)
    rows: int | None = None  # how many rows it will hold, where known before preparing (radiographs: one per file)

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{PREPARATION}\n{self.recipe}\n".encode())
        for path in self.sources:
            status = path.stat()
            digest.update(f"{path.resolve()}\t{status.st_size}\t{status.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:32]


class _Rows:
    """Rows of one .npy file, read by position (opened for each read: nothing stays open to leak, or to keep
    Windows from removing a temporary cache)."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(handle)
            self.offset = handle.tell()
        if fortran:
            raise ValueError(f"{path} is Fortran-ordered; rebuild the cache")
        self.shape, self.dtype = shape, dtype
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int | None = None) -> np.ndarray:
        stop = start + 1 if stop is None else stop
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start * self.row_bytes)
            data = handle.read((stop - start) * self.row_bytes)
        return np.frombuffer(data, self.dtype).reshape((stop - start, *self.shape[1:]))


class Shard:
    """One prepared shard in the cache."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / META).read_text())
        self.name, self.groups, self.studies = meta["name"], meta["groups"], meta["studies"]
        self.voxel_mm = meta.get("voxel_mm", {})
        self.inputs, self.targets = _Rows(folder / "inputs.npy"), _Rows(folder / "targets.npy")

    def __len__(self) -> int:
        return len(self.inputs)


class Split(Dataset):
    """A split as a map-style dataset: item ``i`` is (input (1, H, W) float32, target) as torch tensors; segmentation
    targets come as int64 class maps, classification targets as float32 multi-hot vectors."""

    def __init__(self, shards: Sequence[Shard], description: str, task: str, limit: int | None = None):
        self.shards, self.task = list(shards), task
        self.ends = np.cumsum([len(s) for s in self.shards])
        self.size = int(self.ends[-1]) if self.shards else 0
        if limit:
            self.size = min(self.size, limit)
            description += f", first {self.size}"
        self.description = description
        self.groups = [g for shard in self.shards for g in shard.groups][: self.size]
        self.studies = {name: digest for shard in self.shards for name, digest in shard.studies.items()}
        self.voxel_mm = {case: size for shard in self.shards for case, size in shard.voxel_mm.items()}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        shard_index = int(np.searchsorted(self.ends, index, side="right"))
        shard = self.shards[shard_index]
        row = index - (int(self.ends[shard_index - 1]) if shard_index else 0)
        target = torch.from_numpy(shard.targets.read(row)[0].copy())
        return torch.from_numpy(shard.inputs.read(row)[0].copy()), target.long() if self.task == "segmentation" else target

    def rows(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The given rows stacked: inputs (n, 1, H, W) and targets."""
        items = [self[int(i)] for i in indices]
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])

    def labels(self) -> np.ndarray:
        """Every target: (N, 14) float32 for classification, (N, H, W) bool masks for segmentation."""
        parts, left = [], self.size
        for shard in self.shards:
            take = min(len(shard), left)
            if take <= 0:
                break
            part = shard.targets.read(0, take)
            parts.append(part.astype(bool) if self.task == "segmentation" else part.copy())
            left -= take
        return np.concatenate(parts)

    def batches(self, batch: int, workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every row in order, ``batch`` at a time. The loader draws its worker seed from its own generator: reading
        a split never moves torch's global random state (which dropout in training uses)."""
        from torch.utils.data import DataLoader

        yield from DataLoader(self, batch_size=batch, shuffle=False, num_workers=workers, worker_init_fn=seed_worker,
                              generator=torch.Generator().manual_seed(0))


def seed_worker(worker: int) -> None:
    """Seed numpy and random in a DataLoader worker from torch's per-worker seed (deterministic per epoch)."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def default_cache() -> Path:
    """The per-user cache folder for prepared shards (``$SADNN_TRAINING_CACHE`` overrides it)."""
    if os.environ.get("SADNN_TRAINING_CACHE"):
        return Path(os.environ["SADNN_TRAINING_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sadnn-viewer")) / "training"


def cache_location(setting: str) -> Path | None:
    """The cache folder that a ``--cache`` value names: "" the default one, "none" a temporary folder (None)."""
    if setting == "none":
        return None
    return Path(setting) if setting else default_cache()


def prepared_split(sources: Sequence[ShardSource], cache: Path | None, description: str, task: str,
                   limit: int | None = None, quiet: bool = True) -> Split:
    """The split made of ``sources``, preparing into ``cache`` the shards it does not hold yet (with a progress
    bar). ``cache`` None: a temporary folder, removed when the process ends."""
    cache = Path(cache) if cache is not None else _temporary_cache()
    if limit:
        sources = _enough(sources, limit)
    keys = [s.key for s in sources]  # each stats every source file: once per load
    missing = [(s, key) for s, key in zip(sources, keys) if not (cache / key / META).is_file()]
    if missing:
        from tqdm import tqdm

        for source, key in tqdm(missing, desc=f"preparing into {cache}", unit="shard", disable=quiet, leave=False):
            _write_shard(cache / key, source)
    return Split([Shard(cache / key) for key in keys], description, task, limit)


def _enough(sources: Sequence[ShardSource], limit: int) -> list[ShardSource]:
    """The shards that the first ``limit`` rows need (all up to the first whose row count is unknown)."""
    kept, rows = [], 0
    for source in sources:
        if rows >= limit:
            break
        kept.append(source)
        rows += limit if source.rows is None else source.rows
    return kept


def _write_shard(folder: Path, source: ShardSource) -> None:
    """Prepare one shard into ``folder``, moved into place whole (a killed run leaves no half shard behind)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    prepared = source.prepare()
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        np.save(partial / "inputs.npy", np.ascontiguousarray(prepared.inputs, dtype=np.float32))
        np.save(partial / "targets.npy", np.ascontiguousarray(prepared.targets))
        (partial / META).write_text(json.dumps({"name": source.name, "groups": prepared.groups,
                                                "studies": prepared.studies, "voxel_mm": prepared.voxel_mm,
                                                "preparation": PREPARATION}))
        os.replace(partial, folder)
    except OSError:
        if (folder / META).is_file():  # another process prepared the same shard meanwhile
            return
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


_TEMPORARY: list[tempfile.TemporaryDirectory] = []


def _temporary_cache() -> Path:
    if not _TEMPORARY:
        _TEMPORARY.append(tempfile.TemporaryDirectory(prefix="sadnn-shards-"))
    return Path(_TEMPORARY[0].name)
