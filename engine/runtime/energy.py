"""Energy per inference: the 45 nm arithmetic estimate and a measurement (RAPL or labelled estimate).

The table is Horowitz (ISSCC 2014), as used by the seed paper. It counts arithmetic only, no
memory traffic, so it is a lower bound. A multiply-accumulate (MAC) is one MUL and one ADD.
This module is torch-free: the viewer uses it.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path

# picojoules per operation at 45 nm, 0.9 V
PJ_PER_OP = {
    "int8": {"mul": 0.2, "add": 0.03},
    "int32": {"mul": 3.1, "add": 0.1},
    "fp16": {"mul": 1.1, "add": 0.4},
    "fp32": {"mul": 3.7, "add": 0.9},
}
ASSUMED_TDP_WATTS = 15.0  # a low-power clinic PC's CPU package, for the fallback estimate


def mac_energy_joules(macs: float, precision: str) -> float:
    """Arithmetic energy of ``macs`` multiply-accumulates at ``precision`` (45 nm table)."""
    costs = PJ_PER_OP[precision]
    return macs * (costs["mul"] + costs["add"]) * 1e-12


def model_energy_joules(int8_macs: float, fp32_macs: float) -> float:
    """Energy of one inference whose ``int8_macs`` run in int8 and ``fp32_macs`` in fp32."""
    return mac_energy_joules(int8_macs, "int8") + mac_energy_joules(fp32_macs, "fp32")


@dataclass(frozen=True)
class EnergyMeasurement:
    """Wall time, CPU time and energy of a piece of work; ``source`` says how energy was obtained."""

    seconds: float
    cpu_seconds: float
    joules: float
    source: str
    run_seconds: tuple[float, ...] = ()  # wall time of each forward pass, per inference: the repeated measurements

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_seconds", tuple(float(s) for s in self.run_seconds))  # also when read from JSON

    @property
    def measured(self) -> bool:
        return self.source.startswith("RAPL")

    def with_runs(self, run_seconds: list[float]) -> EnergyMeasurement:
        return EnergyMeasurement(self.seconds, self.cpu_seconds, self.joules, self.source, tuple(run_seconds))


class RunTimer:
    """Times each forward pass of a model (per inference: a batch's time divided by its size)."""

    def __init__(self) -> None:
        self.per_inference: list[float] = []

    def __call__(self, model, batch):
        start = time.perf_counter()
        output = model(batch)
        self.per_inference.append((time.perf_counter() - start) / max(len(batch), 1))
        return output


class EnergyMeter:
    """Context manager measuring package energy with Intel/AMD RAPL where readable.

    Where RAPL is absent or root-only (common on Linux, always on Windows), energy is estimated
    as process CPU time / logical cores x ``tdp_watts`` and labelled an estimate.
    """

    def __init__(self, tdp_watts: float = ASSUMED_TDP_WATTS):
        self.tdp_watts = tdp_watts
        self.result: EnergyMeasurement | None = None

    def __enter__(self) -> "EnergyMeter":
        self._zones = readable_rapl_zones()
        self._energy = [_read_uj(zone) for zone in self._zones]
        self._wall = time.perf_counter()
        self._cpu = _process_cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self._wall
        cpu = _process_cpu_seconds() - self._cpu
        if self._zones:
            joules = sum(_delta_uj(zone, start) for zone, start in zip(self._zones, self._energy)) * 1e-6
            source = "RAPL (CPU package, measured)"
        else:
            joules = cpu / (os.cpu_count() or 1) * self.tdp_watts
            source = f"estimate: CPU time x {self.tdp_watts:g} W TDP / {os.cpu_count()} cores (RAPL not readable)"
        self.result = EnergyMeasurement(seconds, cpu, joules, source)


def readable_rapl_zones(root: str = "/sys/class/powercap") -> list[Path]:
    """Top-level RAPL package zones whose counters this user may read."""
    zones = []
    for name in sorted(glob.glob(os.path.join(root, "intel-rapl:*"))):
        path = Path(name)
        if path.name.count(":") == 1 and os.access(path / "energy_uj", os.R_OK):
            try:
                _read_uj(path)
            except OSError:
                continue
            zones.append(path)
    return zones


def _read_uj(zone: Path) -> int:
    return int((zone / "energy_uj").read_text().strip())


def _delta_uj(zone: Path, start: int) -> int:
    end = _read_uj(zone)
    if end >= start:
        return end - start
    wrap = int((zone / "max_energy_range_uj").read_text().strip())
    return end + wrap - start


def _process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def cpu_name() -> str:
    """The CPU's model name, for saying where a measurement was taken."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or "unknown CPU"
