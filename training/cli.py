"""``engine-train``: one console script with argparse subcommands; torch is imported lazily.

Every error a user can cause (a bad dataset folder, an existing run, a refused int8 model) is
printed as one line ``engine-train: error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine-train", description="Train, evaluate, quantise and export SaDNN models.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="parameters, MACs, sizes and energy of every model (paper Tables 4-5, Fig. 5)")
    report.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    report.add_argument("--no-latency", action="store_true", help="skip the measured latency columns (about 2 minutes)")
    report.add_argument("--quality", action="append", default=[], metavar="NAME=FILE",
                        help="a model's measured quality: registry name = lopo.json or card.json (repeatable)")
    demo = commands.add_parser("prepare-demo-ct", help="build an MSD Task03-layout folder from the two example CTs")
    demo.add_argument("--source", type=Path, required=True, help="the shared data/ct folder")
    demo.add_argument("--out", type=Path, required=True, help="the MSD-layout folder to create")
    _add_train(commands)
    evaluate = commands.add_parser("evaluate", help="held-out metrics of a bundle, fp32 and int8 side by side")
    evaluate.add_argument("--bundle", type=Path, required=True, help="a sealed bundle folder")
    evaluate.add_argument("--data", type=Path, required=True, action="append",
                          help="NIH ChestX-ray14 root, or an MSD Task03 / 3D-IRCADb root (repeat to pool several)")
    evaluate.add_argument("--test-case", dest="test_cases", action="append", default=[],
                          help="with --split test: evaluate these cases by name (repeatable; default: the hash split)")
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test",
                          help="which split to evaluate (val: the patient-wise validation split, classification)")
    evaluate.add_argument("--limit", type=int, help="evaluate the first N samples only")
    evaluate.add_argument("--json", type=Path, help="also write the metrics here")
    _add_cache_option(evaluate)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    quantise = commands.add_parser("quantise", aliases=["quantize"], help="calibrate int8 on real images and export a sealed bundle")
    quantise.add_argument("--run", type=Path, required=True, help="a training run folder")
    quantise.add_argument("--out", type=Path, required=True, help="the new bundle folder")
    quantise.add_argument("--calibration", type=int, default=32, help="number of training images for calibration")
    quantise.add_argument("--name", help="the model's name in its card (default: <architecture>-demo)")
    quantise.add_argument("--without-weights", action="store_true", help="leave weights.safetensors out (smaller bundles to ship)")
    quantise.add_argument("--source-note", default="", help="where the training data came from, for the model card")
    quantise.add_argument("--version", default="0.1.0", help="the model's version in its card")
    quantise.add_argument("--max-probability-change", type=float, default=0.25, help="refuse int8 beyond this (classification)")
    quantise.add_argument("--mean-probability-change", type=float, default=0.05, help="refuse int8 beyond this mean (classification)")
    quantise.add_argument("--min-held-out", type=float, help="refuse a model whose held-out fp32 headline metric "
                          "(mean AUROC, mean Dice per volume) is below this (default 0.5)")
    quantise.add_argument("--lopo", type=Path, help="a lopo.json from engine-train lopo: its summary goes into the card")
    quantise.add_argument("--min-mask-dice", type=float, default=0.9, help="refuse int8 below this Dice vs fp32 (segmentation)")
    _add_key_option(quantise)
    stats = commands.add_parser("attention-stats", help="entropy and logit spread of every attention layer on held-out "
                                "slices, at initialisation and as trained")
    stats.add_argument("--run", type=Path, required=True, help="a SaDNN training run folder")
    stats.add_argument("--slices", type=int, default=12, help="held-out slices with liver to measure on")
    stats.add_argument("--json", type=Path, help="also write the statistics here")
    _add_signing(commands)
    for command in commands.choices.values():
        command.formatter_class = HelpWithDefaults
    return parser


class HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default in ("", [], argparse.SUPPRESS)
        if unset or action.required or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def _add_key_option(command) -> None:
    command.add_argument("--key", type=Path, help="private signing key (default: $SADNN_SIGNING_KEY, else your own key, "
                                                  "created on first use in your configuration folder)")
    command.add_argument("--signer", help="name recorded with a newly created key (default: user@host)")


def _add_signing(commands) -> None:
    keygen = commands.add_parser("keygen", help="create an Ed25519 signing key pair (private key owner-only, public .pub.json beside it)")
    keygen.add_argument("--out", type=Path, required=True, help="the private key file to create, e.g. release_key.json")
    keygen.add_argument("--signer", required=True, help="who signs, as users will read it (e.g. 'SaDNN Viewer release')")
    sign = commands.add_parser("sign", help="sign a sealed bundle's card (after checking every file's SHA-256)")
    sign.add_argument("--bundle", type=Path, required=True, help="the sealed bundle folder to sign")
    _add_key_option(sign)
    trust = commands.add_parser("trust", help="trust a public key: bundles it signed are then accepted on this account")
    trust.add_argument("public_key", type=Path, help="a .pub.json file from whoever trained the bundles")


def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train SaDNN-cls on NIH ChestX-ray14 or SaDNN-seg on liver CT")
    _add_training_options(train)
    train.add_argument("--test-case", dest="test_cases", action="append", default=[],
                       help="hold out this case (patient) by name (repeatable; default: a stable hash split)")
    train.add_argument("--run", type=Path, required=True, help="run folder (config, checkpoint, metrics, curves)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run after an interruption")
    lopo = commands.add_parser("lopo", help="leave-one-patient-out: one segmentation run per held-out patient, each "
                               "sealed and evaluated fp32 and int8 (resumable)")
    _add_training_options(lopo)
    lopo.add_argument("--out", type=Path, required=True, help="folder for the folds, lopo.json and lopo.md")
    _add_key_option(lopo)


def _add_cache_option(command) -> None:
    command.add_argument("--cache", default="", help="folder of prepared shards, reused by later runs "
                         "(default: $SADNN_TRAINING_CACHE, else your user cache folder; 'none': a temporary folder)")


def _add_training_options(command) -> None:
    command.add_argument("--task", choices=("classification", "segmentation"), required=True,
                         help="classification: 14 NIH findings; segmentation: the liver on CT")
    command.add_argument("--data", type=Path, required=True, action="append",
                         help="NIH ChestX-ray14 root (images/ + Data_Entry_2017*.csv), or an MSD Task03 or 3D-IRCADb "
                              "root; segmentation pools several (repeat --data)")
    command.add_argument("--pixel-spacing-mm", type=float, help="segmentation: resample slices to this many mm per "
                         "input pixel, centred (e.g. 1.6 at 256 px: a 410 mm field); default: resize the whole slice")
    command.add_argument("--crop", type=int, help="segmentation: train on random patches of this side (e.g. 128), "
                         "half of them centred on liver; held-out evaluation stays on whole slices")
    command.add_argument("--architecture", default="", help="registry name (default sadnn_cls / sadnn_seg)")
    command.add_argument("--heads", type=int, default=1, help="SaDNN: attention heads per layer (the paper: 1)")
    command.add_argument("--scaled-attention", action="store_true",
                         help="SaDNN: divide the attention logits by sqrt(channels per head) (the paper does not)")
    command.add_argument("--embedding-std", type=float, default=1.0,
                         help="SaDNN: initial standard deviation of the relative position embeddings (the paper: 1)")
    command.add_argument("--scanner-augment", action="store_true",
                         help="segmentation: also vary HU level and contrast, gamma and sharpness (other scanners, "
                              "kernels and slice thicknesses)")
    command.add_argument("--teacher", default="", help="segmentation: a finished run (e.g. a SUMNet or UNet-small "
                         "trained on the same split) whose softened outputs the model also learns (distillation)")
    command.add_argument("--distill-weight", type=float, default=1.0, help="weight of the distillation term")
    command.add_argument("--image-size", type=int, default=0, help="network input side (default 512 cls, 256 seg)")
    command.add_argument("--epochs", type=int, default=10, help="passes over the training split")
    command.add_argument("--batch-size", type=int, default=8, help="images (or patches) per optimiser step")
    command.add_argument("--lr", type=float, default=1e-4, help="learning rate (the peak, with --lr-schedule cosine)")
    command.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                         help="constant, or cosine decay to 0 over --epochs")
    command.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay (AdamW) where non-zero")
    command.add_argument("--seed", type=int, default=0, help="seeds data order, augmentation and initial weights")
    command.add_argument("--no-augment", dest="augment", action="store_false",
                         help="train without augmentation (default: augment as a CT or radiograph varies)")
    command.add_argument("--balanced", action="store_true",
                         help="classification: sample images by the rarity of their findings (with replacement)")
    command.add_argument("--label-smoothing", type=float, default=0.0,
                         help="classification: pull BCE targets this far towards 0.5 (e.g. 0.1)")
    command.add_argument("--amp-bf16", action="store_true", help="mixed precision: bf16 autocast (CPU or GPU)")
    command.add_argument("--amp-fp16", action="store_true", help="mixed precision: fp16 autocast with a gradient scaler "
                         "(CUDA GPUs)")
    command.add_argument("--channels-last", action="store_true", help="channels-last memory format for weights and inputs")
    command.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                         help="auto: a CUDA GPU when torch sees one, else the CPU")
    command.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (0: load in the "
                         "training process)")
    _add_cache_option(command)
    command.add_argument("--patience", type=int, help="stop after this many evaluations without a better validation "
                         "metric, and export the best epoch's model (default: train every epoch)")
    command.add_argument("--val-case", dest="val_cases", action="append", default=[],
                         help="segmentation: validate on this case (patient) each evaluated epoch; it leaves training "
                              "(repeatable; default: no validation split)")
    command.add_argument("--optim-8bit", action="store_true", help="AdamW with 8-bit optimiser states (bitsandbytes)")
    command.add_argument("--half-weights", action="store_true", help="keep the weights in bf16")
    command.add_argument("--weight-bits", type=int, help="fixed-point QAT: weight bits (e.g. 4)")
    command.add_argument("--act-bits", type=int, help="fixed-point QAT: activation bits (e.g. 6)")
    command.add_argument("--limit", type=int, help="use the first N samples of each split (quick checks)")
    command.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, all cores)")
    command.add_argument("--eval-every", type=int, default=1, help="validation every N epochs (and after the last)")
    command.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("engine-train needs torch: pip install 'sadnn-viewer[train]'", file=sys.stderr)
        return 2
    from engine.runtime.errors import EngineError

    try:
        return COMMANDS[ALIASES.get(args.command, args.command)](args)
    except EngineError as err:
        print(f"engine-train: error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"engine-train: error: {err.filename or err} does not exist", file=sys.stderr)
        return 2
    except OSError as err:  # a file the user named that cannot be read or written
        where = f": {err.filename}" if err.filename else ""
        print(f"engine-train: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engine-train: interrupted; continue with --resume", file=sys.stderr)
        return 130


def _report(args) -> int:
    from engine.modelling.comparison import main as report_main

    qualities = [part for item in args.quality for part in ("--quality", item)]
    return report_main(["--out", str(args.out)] + ["--no-latency"] * args.no_latency + qualities)


def _prepare_demo(args) -> int:
    from training.demo_data import build_demo_msd

    print(f"wrote {build_demo_msd(args.source, args.out)}")
    return 0


def _config(args):
    from training.loop import TrainConfig

    options = {k: getattr(args, k) for k in ("task", "architecture", "image_size", "epochs", "batch_size", "lr", "lr_schedule",
                                              "weight_decay", "seed", "balanced", "label_smoothing",
                                              "augment", "amp_bf16", "amp_fp16", "channels_last", "optim_8bit",
                                              "half_weights", "weight_bits", "act_bits", "limit", "threads", "eval_every",
                                              "pixel_spacing_mm", "crop", "device", "workers", "cache", "patience",
                                              "val_cases", "heads", "scaled_attention", "embedding_std",
                                              "scanner_augment", "teacher", "distill_weight")}
    return TrainConfig(data=[str(root) for root in args.data], test_cases=getattr(args, "test_cases", []), **options)


def _train(args) -> int:
    from training.loop import train

    last = train(_config(args), args.run, resume=args.resume, quiet=args.quiet)
    print(json.dumps(last))
    return 0


def _lopo(args) -> int:
    import os

    from training.crossval import TABLE, leave_one_patient_out
    from training.errors import DatasetError

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise DatasetError("lopo runs one process; start it without torchrun (train runs under torchrun)")

    leave_one_patient_out(_config(args), args.out, _signing_key(args), args.quiet)
    print((args.out / TABLE).read_text())
    return 0


def _evaluate(args) -> int:
    from training.datasets import cache_location
    from training.release import evaluate_bundle

    metrics = evaluate_bundle(args.bundle, args.data, args.split, args.limit, args.test_cases, cache_location(args.cache),
                              args.quiet)
    text = json.dumps(metrics, indent=2, default=float)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


def _quantise(args) -> int:
    from training.release import quantise_run

    bundle = quantise_run(args.run, args.out, args.calibration, args.name, args.version,
                          max_probability_change=args.max_probability_change,
                          mean_probability_change=args.mean_probability_change, min_mask_dice=args.min_mask_dice,
                          source_note=args.source_note, include_weights=not args.without_weights, key=_signing_key(args),
                          min_held_out=args.min_held_out, cross_validation=_read_json(args.lopo))
    print(json.dumps({k: v for k, v in bundle.card.metrics.items() if k != "full"}, indent=2, default=float))
    print(f"bundle written to {bundle.path} (sha256 {bundle.digest[:16]}..., signed by {bundle.signer})")
    return 0


def _read_json(path: Path | None):
    from engine.runtime.errors import EngineError

    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise EngineError(f"{path} is not a readable JSON file: {err}") from err


def _signing_key(args):
    import getpass
    import socket

    from engine.runtime.signing import default_signing_key, load_or_create_signing_key

    path = args.key or default_signing_key()
    if args.key is None and not path.exists():
        print(f"creating your signing key at {path}", file=sys.stderr)
    return load_or_create_signing_key(path, args.signer or f"{getpass.getuser()}@{socket.gethostname()}")


def _attention_stats(args) -> int:
    from training.attention_stats import run_statistics, table

    statistics = run_statistics(args.run, args.slices)
    if args.json:
        args.json.write_text(json.dumps(statistics, indent=2))
    print(table(statistics))
    return 0


def _keygen(args) -> int:
    from engine.runtime.signing import SigningKey

    key = SigningKey.generate(args.signer)
    public = key.save(args.out)
    print(f"private key {args.out} (keep it secret), public key {public}, fingerprint {key.public.key_id}")
    return 0


def _sign(args) -> int:
    from engine.runtime.bundle import load_bundle
    from engine.runtime.signing import sign_bundle

    load_bundle(args.bundle, require_signature=False)  # every file still matches the card
    signer = sign_bundle(args.bundle, _signing_key(args))
    print(f"signed {args.bundle} as {signer}")
    return 0


def _trust(args) -> int:
    from engine.runtime.signing import trust_key, user_keys_folder

    key = trust_key(args.public_key)
    print(f"bundles signed by {key.as_signer} are now trusted (key stored in {user_keys_folder()})")
    return 0


ALIASES = {"quantize": "quantise"}
COMMANDS = {"report": _report, "prepare-demo-ct": _prepare_demo, "train": _train, "lopo": _lopo, "evaluate": _evaluate,
            "quantise": _quantise, "attention-stats": _attention_stats, "keygen": _keygen, "sign": _sign, "trust": _trust}


if __name__ == "__main__":
    raise SystemExit(main())
