# Two entry points for a fresh machine: `make run` (the viewer) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench bench-train bench-viewer demo-models baselines resources samples installer lint clean

$(VENV)/.installed-%: pyproject.toml setup.py engine/runtime/operators/sadnn_ops.cc
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$*]'
	touch $@

run: $(VENV)/.installed-viewer resources/samples/.collected
	$(PY) -m viewer

test: $(VENV)/.installed-test
	sh tools/install_orthanc.sh
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks.engine_bench
	$(PY) -m benchmarks.viewer_bench

bench-train: $(VENV)/.installed-test
	$(PY) -m benchmarks.training_bench
	$(PY) -m benchmarks.streaming_bench --image-size 256

# Selvan et al.'s resource table with held-out Dice (after demo-models, which prepares build/demo): about 15 min.
resources: $(VENV)/.installed-test
	$(PY) -m benchmarks.resource_table --threads 1

bench-viewer: $(VENV)/.installed-test
	$(PY) -m benchmarks.viewer_bench

# The shipped demo models, retrained from ../shared/data exactly as they were made, signed with the release key
# (kept outside the repository; its public half is resources/trusted_keys). build/demo must not hold an earlier run.
# Running time on 2 cores (AMD EPYC, bf16): the X-ray model about 10 min; the liver model's leave-one-patient-out
# folds about 40 min each (4 folds, about 2 h 40 min), one of which (liver_1 held out) is the shipped model.
DEMO := build/demo
RELEASE_KEY ?= $(HOME)/.config/sadnn-release/release_key.json
SEG_RECIPE := --task segmentation --data ../shared/data/ct/ircadb --data $(DEMO)/Task03_Liver --image-size 256 --pixel-spacing-mm 1.6 \
	--crop 128 --epochs 16 --batch-size 8 --lr 3e-4 --lr-schedule cosine --weight-decay 0.01 --amp-bf16 --eval-every 4 --threads 2
demo-models: $(VENV)/.installed-test
	$(PY) -m training.cli prepare-demo-ct --source ../shared/data/ct --out $(DEMO)/Task03_Liver
	$(PY) -m training.cli train --task classification --data ../shared/data/cxr --run $(DEMO)/runs/cls --image-size 64 --epochs 30 --batch-size 32 \
		--balanced --label-smoothing 0.1 --eval-every 5 --threads 1
	$(PY) -m training.cli quantise --run $(DEMO)/runs/cls --out $(DEMO)/bundles/sadnn_cls_demo --calibration 64 --name sadnn-cls-demo --version 0.2.0 --without-weights --key $(RELEASE_KEY) \
		--source-note "NIH ChestX-ray14 (Wang et al. 2017): 800 real images downsampled to 64x64 PNG, with the public labels"
	$(PY) -m training.cli lopo $(SEG_RECIPE) --out $(DEMO)/lopo --key $(RELEASE_KEY)
	$(PY) -m training.cli quantise --run $(DEMO)/lopo/liver_1/run --out $(DEMO)/bundles/sadnn_seg_demo --lopo $(DEMO)/lopo/lopo.json --calibration 30 --name sadnn-seg-demo --version 0.2.0 --without-weights --key $(RELEASE_KEY) \
		--source-note "3D-IRCADb-01 patients 1 and 7 (IRCAD, CC BY-NC-ND 4.0: non-commercial use only) with expert manual liver masks, and 1 TotalSegmentator example patient (Apache-2.0) whose liver mask is a model output; the sample CT series (TotalSegmentator abdominal DICOM) is held out"
	rm -rf resources/models/sadnn_cls_demo resources/models/sadnn_seg_demo
	cp -r $(DEMO)/bundles/sadnn_cls_demo $(DEMO)/bundles/sadnn_seg_demo resources/models/

# The paper's comparison on the same data and protocol (run after demo-models, which prepares the data and SaDNN-seg's
# folds): leave-one-patient-out for UNet-small (fp32/int8 PTQ and W4/A6 fixed-point QAT) and SUMNet, then the Tables 4-5
# report with each model's measured held-out Dice. On 2 cores: UNet-small 5-15 min a fold (training), SUMNet 40-55 min (143-212 s an epoch at 1 thread, measured on two machines).
BASELINES := $(DEMO)/baselines
baselines: $(VENV)/.installed-test
	$(PY) -m training.cli lopo $(SEG_RECIPE) --architecture unet_small --out $(BASELINES)/unet_small
	$(PY) -m training.cli lopo $(SEG_RECIPE) --architecture unet_small --weight-bits 4 --act-bits 6 --out $(BASELINES)/unet_small_w4a6
	$(PY) -m training.cli lopo $(SEG_RECIPE) --architecture sumnet --out $(BASELINES)/sumnet
	$(PY) -m training.cli report --out $(BASELINES)/report --quality sadnn_seg=$(DEMO)/lopo/lopo.json \
		--quality unet_small=$(BASELINES)/unet_small/lopo.json --quality sumnet=$(BASELINES)/sumnet/lopo.json

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache

# Sample images offered by "Open sample" (copied from pydicom-data and ../shared/data; not in git). `make run` collects
# them into the viewer's own install; without ../shared/data the viewer still starts and says that samples are missing.
samples: resources/samples/.collected

resources/samples/.collected: packaging/collect_samples.py | $(VENV)/.installed-viewer
	$(PY) -m pip install --quiet "pydicom-data>=1.0"
	$(PY) packaging/collect_samples.py && touch $@ || echo "make: samples not collected (see above); the viewer runs without them"

# The standalone viewer (PyInstaller onedir in dist/sadnn-viewer), its size report and headless self-test.
installer: samples
	$(PY) packaging/build.py
