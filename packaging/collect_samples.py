"""Copy the sample images the app offers into resources/samples, with their licence notices.

    python packaging/collect_samples.py [--shared ../shared/data]

The chest CR comes from the pydicom-data package (MIT); the abdominal CT series from the
TotalSegmentator example data (Apache-2.0) kept in ../shared/data. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "samples")
    args = parser.parse_args(argv)
    try:
        import data_store
    except ImportError:
        print("collect_samples: error: the pydicom-data package is not installed (pip install pydicom-data)", file=sys.stderr)
        return 2
    series = args.shared / "ct" / "totalseg_abd_dicom"
    if not series.is_dir():
        print(f"collect_samples: error: {series} not found (pass --shared)", file=sys.stderr)
        return 2
    package = Path(data_store.__file__).parent
    cr, ct = args.out / "chest_cr", args.out / "abdominal_ct"
    for folder in (cr, ct):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    shutil.copy2(package / "data" / "RG1_J2KR.dcm", cr / "RG1_J2KR.dcm")
    licence = next((p for p in package.parent.glob("pydicom_data-*.dist-info/licenses/LICENSE")), None) or \
        next(package.parent.glob("pydicom_data-*.dist-info/LICENSE*"))
    shutil.copy2(licence, cr / "LICENSE.txt")
    for path in sorted(series.iterdir()):
        shutil.copy2(path, ct / path.name)
    (ct / "NOTICE.txt").write_text(
        "Abdominal CT series from the TotalSegmentator repository test data (tests/reference_files),\n"
        "https://github.com/wasserth/TotalSegmentator, licensed under the Apache License 2.0.\n"
        "Wasserthal J. et al., TotalSegmentator: Robust Segmentation of 104 Anatomic Structures in CT Images.\n"
        "Radiology: Artificial Intelligence 2023.\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file()) / 2**20
    print(f"samples in {args.out}: {size:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
