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


SUBCOMMANDS: list[Callable] = [_add_inspect]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medrl", description="Refine 3D segmentation masks with multi-agent RL.")
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


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="medrl: %(levelname)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    return run(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
