"""``engine-train``: one console script with argparse subcommands; torch is imported lazily."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine-train", description="Train, evaluate, quantise and export SaDNN models.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="parameters, MACs, sizes and energy of every model (paper Tables 4-5, Fig. 5)")
    report.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("engine-train needs torch: pip install 'sadnn-viewer[train]'", file=sys.stderr)
        return 2
    if args.command == "report":
        from engine.report import main as report_main

        return report_main(["--out", str(args.out)])
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
