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

EXIT_USER_ERROR = 2
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")


def _inspect(args: argparse.Namespace) -> int:
    from medrl.data.inspection import format_report, inspect_path

    reports = [inspect_path(path, channel=args.channel) for path in args.paths]
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    else:
        for report in reports:
            print("\n".join(format_report(report)))
    problems = [problem for report in reports for problem in report.get("problems", [])]
    for problem in problems:
        print(f"medrl: error: {problem}", file=sys.stderr)
    return EXIT_USER_ERROR if problems else 0


def _add_inspect(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="describe scans, DICOM folders or datasets and check image/label pairs",
        description="Print shape, spacing (mm), orientation, dtype, intensity range and label counts; "
        "for a dataset (dataset.json, imagesTr/labelsTr folder, CSV) check every image/label pair.",
    )
    parser.add_argument("paths", nargs="+", help="scan file, DICOM series folder, dataset.json, dataset folder or CSV")
    parser.add_argument("--channel", type=int, default=None, help="volume to read from 4D scans")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_inspect)


def _demo(args: argparse.Namespace) -> int:
    from medrl.demo import DemoSettings, run_demo

    chosen = {name: getattr(args, name) for name in ("segmenter_steps", "refiner_steps", "warm_start_steps", "seed")}
    settings = DemoSettings(**{name: value for name, value in chosen.items() if value is not None})
    settings.warm_start_steps = min(settings.warm_start_steps, settings.refiner_steps)
    run_demo(args.output, settings)
    return 0


def _add_demo(subparsers) -> None:
    # defaults live in medrl.demo.DemoSettings; importing it here would load Lightning for every command
    parser = subparsers.add_parser(
        "demo", help="train and evaluate on built-in data (synthetic CT-like cases + MNI152 MRI), on a CPU, in minutes",
        description="Write the built-in data, train the segmenter and the refinement agents briefly, run the robot-user "
        "protocol on held-out cases, print Dice per interaction beside 'initial mask kept', and write the checkpoint, "
        "a plot and example masks into --output.",
    )
    parser.add_argument("--output", default="medrl_demo", help="output folder (default: %(default)s)")
    parser.add_argument("--segmenter-steps", type=int, help="segmenter optimizer steps (default 300)")
    parser.add_argument("--refiner-steps", type=int, help="agents' optimizer steps (default 700)")
    parser.add_argument("--warm-start-steps", type=int, help="behaviour-cloning steps before A2C (default 200)")
    parser.add_argument("--seed", type=int, help="seed of data, training and evaluation (default 0)")
    parser.set_defaults(handler=_demo)


SUBCOMMANDS: list[Callable] = [_add_inspect, _add_demo]


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


def _show_medrl_warnings() -> None:
    """medrl's own warnings (e.g. which DICOM series was read) go to stderr as ``medrl: warning: ...``."""
    logger = logging.getLogger("medrl")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("medrl: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    _show_medrl_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:  # fit | validate | test: LightningCLI parses its own arguments
        return run(lambda _: _lightning(argv), None)
    args = build_parser().parse_args(argv)
    return run(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
