"""The ``medrl evaluate`` subcommand: argparse options over :func:`medrl.evaluation.run.run_evaluation`.

``medrl.cli`` wires it in with ``add_evaluate_parser(subparsers)``. Importing this module loads neither
torch nor Lightning; the handler imports the evaluation when the command runs.
"""

from __future__ import annotations

import argparse

from medrl.errors import MedrlInputError
from medrl.evaluation.settings import START_MODES, EvaluationSettings

DEFAULTS = EvaluationSettings(checkpoint="", data="", output="")


def parse_compare(values: list[str] | None) -> dict[str, str]:
    """``["region=region.ckpt", ...]`` -> ``{"region": "region.ckpt", ...}``.

    Raises:
        MedrlInputError: an entry without ``NAME=CHECKPOINT`` form, or a name given twice.
    """
    compare: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise MedrlInputError("--compare", f"expected NAME=CHECKPOINT, got {value!r}")
        if name.strip() in compare:
            raise MedrlInputError("--compare", f"method name {name.strip()!r} given twice")
        compare[name.strip()] = path.strip()
    return compare


def settings_from_args(args: argparse.Namespace) -> EvaluationSettings:
    """The :class:`EvaluationSettings` of parsed ``medrl evaluate`` arguments."""
    return EvaluationSettings(
        checkpoint=args.checkpoint, data=args.data, output=args.output, interactions=args.interactions, name=args.name,
        compare=parse_compare(args.compare), section=args.section, start=args.start,
        perturbation_dice=tuple(args.perturbation_dice), seed=args.seed,
        foreground_labels=tuple(args.foreground_labels) if args.foreground_labels else None,
        clicks_per_interaction=args.clicks_per_interaction, nsd_tolerance_mm=args.nsd_tolerance,
        noc_thresholds=tuple(args.noc_thresholds), max_cases=args.max_cases, device=args.device, overwrite=args.overwrite,
        crop_margin_mm=args.crop_margin, modality=args.modality,
    )


def evaluate_command(args: argparse.Namespace) -> int:
    """Handler of ``medrl evaluate``: run and return exit status 0 (user errors raise :class:`MedrlInputError`)."""
    from medrl.evaluation.run import run_evaluation

    run_evaluation(settings_from_args(args), progress=not args.quiet)
    return 0


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``evaluate`` to the ``medrl`` subcommands; its handler is ``args.handler``."""
    d = DEFAULTS
    parser = subparsers.add_parser(
        "evaluate", help="Dice-vs-clicks evaluation with the robot clinician: agents beside baselines, CSV/JSON/PNG",
        description="For each case, start from its 'initial' mask (else the segmenter's, or a seeded perturbation), "
        "then K robot-clinician interactions; after each, Dice, HD95 (mm) and NSD of every method: the 'initial' "
        "baseline (starting mask kept), the --checkpoint's method and every --compare checkpoint's: medrl's agents, or "
        "a supervised click network trained with configs/click_network.yaml (recognised by its checkpoint). "
        "Writes interactions.csv, "
        "cases.csv (NoC, AUC), summary.json (means, 95% CIs) and dice_vs_clicks.png into --output, and prints a table. "
        "Metrics are measured on the checkpoint's working grid (RAS, its spacing).",
    )
    parser.add_argument("--checkpoint", required=True,
                        help="main checkpoint, agents or click network (its segmenter and preprocessing are used)")
    parser.add_argument("--data", required=True, help="dataset.json, dataset folder (imagesTr/labelsTr) or CSV; cases need labels")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--interactions", type=int, default=d.interactions, help="K, robot interactions per case (default: %(default)s)")
    parser.add_argument("--name", default=d.name, help="name of the main checkpoint's method in reports (default: %(default)s)")
    parser.add_argument("--compare", action="append", metavar="NAME=CHECKPOINT",
                        help="further methods to compare (repeatable): agents (region=region.ckpt) or a supervised click network "
                        "(supervised=click_network.ckpt); same preprocessing as --checkpoint")
    parser.add_argument("--section", default=d.section, help="dataset list to evaluate (default: %(default)s)")
    parser.add_argument("--start", choices=START_MODES, default=d.start,
                        help="starting masks: auto = the case's 'initial' mask, else the segmenter (default: %(default)s)")
    parser.add_argument("--perturbation-dice", type=float, nargs=2, metavar=("LO", "HI"), default=list(d.perturbation_dice),
                        help=f"Dice range of perturbed starting masks (default: {' '.join(map(str, d.perturbation_dice))})")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of perturbations and robot tie-breaking (default: %(default)s)")
    parser.add_argument("--foreground-labels", type=int, nargs="+", metavar="VALUE",
                        help="label values forming the task's foreground, e.g. 1 for the spleen of a multi-organ map "
                        "(default: the checkpoint's, else any non-zero label)")
    parser.add_argument("--clicks-per-interaction", type=int, default=d.clicks_per_interaction,
                        help="robot clicks per interaction (default: %(default)s)")
    parser.add_argument("--nsd-tolerance", type=float, default=d.nsd_tolerance_mm, metavar="MM",
                        help="NSD tolerance in mm (default: %(default)s)")
    parser.add_argument("--noc-thresholds", type=float, nargs="+", default=list(d.noc_thresholds), metavar="DICE",
                        help=f"Dice levels of NoC (default: {' '.join(map(str, d.noc_thresholds))})")
    parser.add_argument("--max-cases", type=int, help="evaluate only the first N cases")
    parser.add_argument("--crop-margin", type=float, metavar="MM", help="run and measure every method in the box of the truth "
                        "grown by this margin (a region of interest around the structure); default: the whole scan")
    parser.add_argument("--modality", help="the scans' modality when their dataset entries name none (auto intensity preset)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=d.device, help="(default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=evaluate_command)
    return parser
