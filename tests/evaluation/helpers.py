"""Running ``medrl evaluate`` in tests as the CLI does, and reading back what it wrote."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import torch
from scipy import ndimage

from medrl.cli import run
from medrl.evaluation.command import add_evaluate_parser


def _args(*argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="medrl")
    add_evaluate_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["evaluate", *(str(a) for a in argv), "--quiet"])


def evaluate(*argv) -> int:
    """``medrl evaluate ARGV`` as the CLI runs it (user errors: one stderr line, exit status 2)."""
    args = _args(*argv)
    return run(args.handler, args)


def read_csv(path) -> list[dict]:
    """The rows of a CSV file as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def dice_curves(rows: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Dice per interaction, by (case, method), from the rows of interactions.csv (in file order)."""
    curves: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        curves.setdefault((row["case"], row["method"]), []).append(float(row["dice"]))
    return curves


def dice_of(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of the non-zero voxels of two arrays, computed here independently of medrl."""
    a, b = a > 0, b > 0
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _refuse_non_finite(constant: str):
    raise AssertionError(f"summary.json holds {constant}, which strict JSON readers refuse")


def check_complete(output, cases: list[str], methods: list[str], interactions: int) -> tuple[list, list, dict]:
    """Every case × method × interaction in interactions.csv, every case × method in cases.csv, every
    method in summary.json and a PNG; returns the three tables."""
    rows, case_rows = read_csv(output / "interactions.csv"), read_csv(output / "cases.csv")
    assert {(r["case"], r["method"], int(r["interaction"])) for r in rows} == {
        (c, m, k) for c in cases for m in methods for k in range(interactions + 1)}
    assert len(rows) == len(cases) * len(methods) * (interactions + 1)
    assert sorted((r["case"], r["method"]) for r in case_rows) == sorted((c, m) for c in cases for m in methods)
    summary = json.loads((output / "summary.json").read_text(encoding="utf-8"), parse_constant=_refuse_non_finite)
    assert list(summary["methods"]) == methods and [c["case"] for c in summary["cases"]] == cases
    for method in methods:
        assert len(summary["methods"][method]["dice"]) == interactions + 1
        for key in ("auc", "noc@85", "noc@90"):
            assert set(summary["methods"][method][key]) == {"mean", "ci95_low", "ci95_high", "n"}
    png = (output / "dice_vs_clicks.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    return rows, case_rows, summary


class FixClickedComponent:
    """A stand-in refinement method: each click repairs the whole 26-connected error component it hits
    (the interface a new method implements; here it needs only the truth)."""

    name = "fix-component"

    def start(self, case, initial):
        return initial.float()

    def interact(self, case, probability, previous_clicks, new_clicks):
        mask = probability.numpy() >= 0.5
        for click in new_clicks:
            errors = mask != case.label.astype(bool)
            components, _ = ndimage.label(errors, structure=np.ones((3, 3, 3)))
            mask[components == components[click.index]] = click.positive
        return torch.from_numpy(mask.astype(np.float32))
