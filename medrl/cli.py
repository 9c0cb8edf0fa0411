"""The ``medrl`` command: thin subcommands over the Python API.

Every subcommand turns a :class:`medrl.errors.MedrlInputError` into one line on stderr,
``medrl: error: <file>: <problem>``, and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable, Sequence

from medrl import __version__
from medrl.errors import MedrlInputError
from medrl.evaluation.command import add_evaluate_parser

EXIT_USER_ERROR = 2
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")


def _inspect(args: argparse.Namespace) -> int:
    from medrl.data.inspection import format_report, inspect_path
    from medrl.models.checkpoint_report import checkpoint_report, format_checkpoint_report, is_checkpoint_path

    reports = [checkpoint_report(path) if is_checkpoint_path(path) else inspect_path(path, channel=args.channel)
               for path in args.paths]
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    else:
        for report in reports:
            print("\n".join(format_checkpoint_report(report) if "checkpoint" in report else format_report(report)))
    problems = [problem for report in reports for problem in report.get("problems", [])]
    for problem in problems:
        print(f"medrl: error: {problem}", file=sys.stderr)
    return EXIT_USER_ERROR if problems else 0


def _add_inspect(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="describe scans, DICOM folders, datasets or checkpoints and check image/label pairs",
        description="Print shape, spacing (mm), orientation, dtype, intensity range and label counts; "
        "for a dataset (dataset.json, imagesTr/labelsTr folder, CSV) check every image/label pair; "
        "for a checkpoint (.ckpt) its networks, working grid and provenance (datasets, reviews, base checkpoint).",
    )
    parser.add_argument("paths", nargs="+", help="scan file, DICOM series folder, dataset.json, dataset folder, CSV or checkpoint")
    parser.add_argument("--channel", type=int, default=None, help="volume to read from 4D scans")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_inspect)


def _demo(args: argparse.Namespace) -> int:
    from medrl.demo import DemoSettings, run_demo

    chosen = {name: getattr(args, name) for name in ("segmenter_steps", "refiner_steps", "warm_start_steps", "max_minutes", "seed")}
    settings = DemoSettings(**{name: value for name, value in chosen.items() if value is not None})
    run_demo(args.output, settings)
    return 0


def _add_demo(subparsers) -> None:
    # defaults live in medrl.demo.DemoSettings; importing it here would load Lightning for every command
    parser = subparsers.add_parser(
        "demo", help="train and evaluate on built-in data (synthetic CT-like cases + MNI152 MRI), on a CPU, in minutes",
        description="Write the built-in data, train the segmenter and the refinement agents briefly, run the robot-clinician "
        "protocol on held-out cases, print Dice per interaction beside 'starting mask kept', and write the checkpoint, "
        "a plot and example masks into --output.",
    )
    parser.add_argument("--output", default="medrl_demo", help="output folder (default: %(default)s)")
    parser.add_argument("--segmenter-steps", type=int, help="segmenter optimizer steps (default 300)")
    parser.add_argument("--refiner-steps", type=int, help="agents' optimizer steps (default: medrl/configs/demo.yaml's, 700)")
    parser.add_argument("--warm-start-steps", type=int,
                        help="behaviour-cloning steps before A2C (default: medrl/configs/demo.yaml's, 200)")
    parser.add_argument("--max-minutes", type=float, help="cap each training stage's wall time (default: none; with a cap "
                        "a busy machine trains fewer steps, and the demo prints how many each stage ran)")
    parser.add_argument("--seed", type=int, help="seed of data, training and evaluation (default 0)")
    parser.set_defaults(handler=_demo)


EXIT_SOME_FAILED = 1


def _predict(args: argparse.Namespace) -> int:
    import warnings

    from medrl.data.readers import check_volume_count
    from medrl.inference.batch import PredictSettings, run_predict
    from medrl.inference.inputs import existing_outputs, list_scans
    from medrl.inference.markups import read_clicks
    from medrl.models.checkpoint import read_checkpoint

    _check_predict_numbers(args)
    read_checkpoint(args.checkpoint)  # a bad checkpoint is exit 2 before any work
    scans = list_scans(args.input)
    if (args.mask or args.clicks) and len(scans) != 1:
        raise MedrlInputError(args.input, f"--mask and --clicks apply to one scan, but this input holds {len(scans)}")
    mask_format = _mask_format(args, scans)
    if len(scans) == 1:  # one scan: its problem is the invocation's, said before any progress bar
        check_volume_count(scans[0].image, args.channel)
    settings = PredictSettings(
        checkpoint=args.checkpoint, output_dir=args.output, mask=args.mask,
        clicks=read_clicks(args.clicks) if args.clicks else None, steps=args.steps,
        probabilities=args.save_probabilities, entropy=args.save_entropy, overwrite=args.overwrite, tile_edge=args.tile_edge,
        window_overlap=args.window_overlap, precision=args.precision, modality=args.modality, labels=args.label, label_names=args.label_names,
        replace_other_structures=args.replace_other_structures, channel=args.channel, mask_format=mask_format,
    )
    if not args.overwrite and _is_first_process():
        existing = existing_outputs(scans, args.output, settings.kinds, mask_format)
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise MedrlInputError(existing[0], f"output exists{more}; pass --overwrite to replace")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        records = run_predict(scans, settings, accelerator="gpu" if args.device == "cuda" else "cpu",
                              devices=args.devices, num_nodes=args.num_nodes)
    failed = [record for record in records if record["status"] != "ok"]
    if not _is_first_process():
        return EXIT_SOME_FAILED if failed else 0
    if len(records) == 1 and failed:  # one scan: its problem is the invocation's problem
        raise MedrlInputError(None, failed[0]["error"])
    for record in failed:
        print(f"medrl: error: {record['error']}", file=sys.stderr)
    print(f"medrl predict: {len(records) - len(failed)} of {len(records)} scans written to {args.output}"
          + (f"; {len(failed)} failed (see {args.output}/predict_report.json)" if failed else ""))
    return EXIT_SOME_FAILED if failed else 0


def _mask_format(args: argparse.Namespace, scans) -> str:
    """The mask's output format: as asked, or (``auto``) a Slicer segmentation for a ``.seg.nrrd`` --mask, else NIfTI;
    checks the options that go with multi-label maps and DICOM SEG."""
    from pathlib import Path

    from medrl.data.label_maps import is_seg_nrrd

    if args.label is not None and not args.mask:
        raise MedrlInputError("--label", "chooses structures of a multi-label map; give the map as --mask MAP")
    if args.label is None and (args.label_names or args.replace_other_structures):
        raise MedrlInputError("--label-names" if args.label_names else "--replace-other-structures", "goes with --label")
    if args.label is not None and (args.save_probabilities or args.save_entropy):
        raise MedrlInputError("--label", "--save-probabilities and --save-entropy are written for a binary mask only; "
                                         "leave them out, or refine one structure's binary mask")
    chosen = args.output_format
    if chosen == "auto":
        chosen = "seg.nrrd" if args.mask and is_seg_nrrd(args.mask) else "nifti"
    if chosen == "dicom-seg":
        not_dicom = [scan.image for scan in scans if not Path(scan.image).is_dir()]
        if not_dicom:
            raise MedrlInputError(not_dicom[0], "--output-format dicom-seg needs a DICOM series folder as input, and this "
                                                "is a file; use --output-format nifti, nrrd or seg.nrrd")
    return chosen


def _check_predict_numbers(args: argparse.Namespace) -> None:
    checks = [("--steps", args.steps is None or args.steps >= 0, "must be 0 or more"),
              ("--devices", args.devices >= 1, "must be 1 or more"), ("--num-nodes", args.num_nodes >= 1, "must be 1 or more"),
              ("--tile-edge", args.tile_edge >= 8, "must be at least 8 voxels"),
              ("--window-overlap", 0 <= args.window_overlap < 1, "must lie in [0, 1)")]
    for option, fine, problem in checks:
        if not fine:
            raise MedrlInputError(option, problem)


def _is_first_process() -> bool:
    """False in the extra processes a DDP launcher starts (they must not re-check outputs rank 0 may be writing)."""
    import os

    return all(os.environ.get(name, "0") == "0" for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))


def _add_predict(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="segment and refine new scans; masks are written on each scan's own grid",
        description="Segment each scan with the checkpoint's segmenter (or start from --mask), let the agents refine "
        "it (around --clicks when given), and write NAME_mask.nii.gz (uint8, the scan's shape and affine) into --output. "
        "Exit status: 0 all written, 1 some scans failed (each reported, the rest written), 2 bad invocation.",
    )
    parser.add_argument("--checkpoint", required=True, help="medrl checkpoint (from `medrl fit` or `medrl demo`)")
    parser.add_argument("--input", required=True,
                        help="scan file (NIfTI/NRRD/MHA), DICOM series folder, folder of scans, or dataset.json (its test list)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--mask", help="starting mask on the scan's grid instead of the segmenter's: "
                        "a label mask (non-zero = foreground) or a probability map in [0, 1]")
    parser.add_argument("--clicks", help='clicks JSON: {"coordinate_system": "RAS"|"LPS"|"voxel", '
                        '"points": [{"position": [x, y, z], "positive": true, "label": "liver"}, ...]} ("label" optional), '
                        'or a 3D Slicer markups file (.mrk.json, .fcsv; see docs/formats.md for which points are negative)')
    parser.add_argument("--label", help="with a multi-label --mask: the structure(s) to refine, by value or name "
                        "(3, liver, 'liver,spleen', all); the output is the whole map with only those changed")
    parser.add_argument("--label-names", help="names of the map's structures: dataset.json (nnU-Net), labels JSON or "
                        "ITK-SNAP label file (default: the map's own, or a dataset.json beside it)")
    parser.add_argument("--replace-other-structures", action="store_true", help="let a refined structure take voxels that "
                        "belong to other structures (default: those keep their structure)")
    parser.add_argument("--output-format", choices=("auto", "nifti", "nrrd", "seg.nrrd", "dicom-seg"), default="auto",
                        help="the mask's format: auto is seg.nrrd for a .seg.nrrd --mask, else nifti; dicom-seg needs a "
                        "DICOM series input (default: %(default)s)")
    parser.add_argument("--channel", type=int, help="volume to read from 4D scans (0-based)")
    parser.add_argument("--steps", type=int, help="agent steps (default: the checkpoint's)")
    parser.add_argument("--modality", help="the scans' modality (CT, MR, PET, ...) for a checkpoint that normalises each scan "
                        "by its modality (intensity preset auto); default: CT when the scan holds air in HU, else percentiles")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="(default: %(default)s)")
    parser.add_argument("--devices", type=int, default=1, help="processes (GPUs) per node; >1 runs DDP (default: 1)")
    parser.add_argument("--num-nodes", type=int, default=1, help="nodes (default: 1)")
    parser.add_argument("--save-probabilities", action="store_true", help="also write NAME_probability.nii.gz (float32 in [0, 1])")
    parser.add_argument("--save-entropy", action="store_true", help="also write NAME_entropy.nii.gz (uncertainty, bits in [0, 1])")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    parser.add_argument("--tile-edge", type=int, default=160, help="largest agents' tile side in voxels; lower it to save memory")
    parser.add_argument("--window-overlap", type=float, default=0.25,
                        help="overlap of the agents' sliding windows: 0.25 blends seams, 0 is about twice as fast (default: %(default)s)")
    parser.add_argument("--precision", choices=("32", "bf16-mixed", "16-mixed"), default="32",
                        help="the networks' precision: bf16-mixed for CPUs and recent GPUs, 16-mixed for GPUs (default: %(default)s)")
    parser.set_defaults(handler=_predict)


def _finetune(args: argparse.Namespace) -> int:
    from medrl.training.finetune import run_finetune

    overrides = list(args.overrides)
    if args.steps is not None:
        if args.steps < 1:
            raise MedrlInputError("--steps", "must be 1 or more")
        overrides.append(f"--trainer.max_steps={args.steps}")
    result = run_finetune(args.checkpoint, args.feedback, args.output, dataset=args.data, configs=args.config or (),
                          overrides=overrides, resume=args.resume, overwrite=args.overwrite, select_by=args.select_by)
    if _is_first_process():
        if result.select_by:
            verdict = "the starting agents were better and are kept" if result.kept_start else "the tuned agents are better"
            print(f"medrl finetune: {result.select_by} starting agents {_score(result.start_score)}, best tuned "
                  f"{_score(result.best_score)}: {verdict}")
        print(f"medrl finetune: agents written to {result.output} ({args.checkpoint} kept as it was)")
    return 0


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


LIGHTNING_OVERRIDE_PREFIXES = ("--model.", "--data.", "--trainer.", "--seed_everything")


def _add_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune", help="continue training a checkpoint's agents: on clinicians' reviews, with a task reward, or both",
        description="Start from the checkpoint's agents and train them on a feedback store's reviews (each starts from "
        "the mask the clinician started from; the clinician's corrections override the reward's target) and/or a "
        "labelled dataset, with the checkpoint's reward or the one a --config gives (task-reward tuning: "
        "configs/tune_dice_gain.yaml, configs/tune_surface_gain.yaml with --select-by). Writes a new checkpoint; the "
        "old one is kept. Further LightningCLI overrides (--trainer.X=..., --model.init_args.X=..., --data.X=...) are "
        "passed on.",
    )
    parser.add_argument("--checkpoint", required=True, help="the agents' checkpoint to start from (never modified)")
    parser.add_argument("--feedback", help="feedback store folder (written by the review session)")
    parser.add_argument("--output", help="new checkpoint (default: CHECKPOINT_finetuned.ckpt beside it)")
    parser.add_argument("--data", help="labelled dataset mixed in, so the agents keep what they knew (and validated on)")
    parser.add_argument("--config", action="append", help="LightningCLI config file(s) applied after the defaults")
    parser.add_argument("--steps", type=int, help="optimizer steps (default 300)")
    parser.add_argument("--select-by", help="validation metric choosing between the starting and the best tuned agents "
                        "(val/nsd, val/dice_5, val/hd95_mm); needs --data")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.set_defaults(handler=_finetune, overrides=[])


SUBCOMMANDS: list[Callable] = [_add_inspect, _add_demo, _add_predict, add_evaluate_parser, _add_finetune]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medrl", description="Refine 3D segmentation masks with multi-agent RL.",
        epilog="Training: medrl fit | validate | test --config configs/X.yaml (LightningCLI; see `medrl fit --help`).",
    )
    parser.add_argument("--version", action="version", version=f"medrl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; user errors become one stderr line and exit status 2."""
    try:
        return handler(args)
    except MedrlInputError as error:
        print(f"medrl: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR


def _lightning(argv: Sequence[str]) -> int:
    from medrl.training.lightning_cli import run_lightning_cli

    run_lightning_cli(argv)
    return 0


class _CurrentStderr(logging.StreamHandler):
    """A stderr handler that writes to whatever ``sys.stderr`` is now (notebooks and test capture replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _show_medrl_warnings() -> None:
    """medrl's own warnings (e.g. which DICOM series was read) go to stderr as ``medrl: warning: ...``."""
    logger = logging.getLogger("medrl")
    if not logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("medrl: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    _show_medrl_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:  # fit | validate | test: LightningCLI parses its own arguments
        return run(lambda _: _lightning(argv), None)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "finetune" or not all(arg.startswith(LIGHTNING_OVERRIDE_PREFIXES) for arg in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    return run(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
