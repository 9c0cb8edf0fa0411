"""The closing part of the benchmark document: the verdicts of all tasks together, our reading of what
limits medrl's agents (each statement written only when the measured numbers it rests on hold, and
quoting them), and the caveats of the measurement."""

from __future__ import annotations

from benchdoc_curves import EpisodeDice
from benchdoc_evaluation import EvaluationResult
from benchdoc_tables import AGENTS, number

from medrl.evaluation.comparison import Comparison

DRIFT = 0.01
"""A mean Dice after the last interaction this much below the one after the first counts as drifting down."""

CAVEATS = [
    "One training run (seed 0) per model: the spread between training seeds is not measured, so a small difference between "
    "two methods can be the luck of one run.",
    "The real-CT tasks are one scan: their cases are perturbations of the same organ, so their intervals measure the spread "
    "over starting masks and clicks, not over patients. The label map is itself a model's output.",
    "The demo data are synthetic (one bright organ-like shape among distractors).",
    "Budgets are the demo's (minutes on a CPU) and were not tuned for the real CT.",
    "Wall times come from a CPU shared with other work; they compare methods run under the same conditions only roughly.",
]


def _tally_sentence(results: list[EvaluationResult], found: dict[str, dict[tuple, Comparison]], first: str, second: str) -> str:
    tally: dict[str, list[str]] = {}
    for result in results:
        c = found[result.task.key].get((first, second, "auc"))
        if c is not None:
            tally.setdefault(c.verdict, []).append(result.task.key)
    parts = [f"{verdict} in {len(keys)} ({', '.join(keys)})" for verdict, keys in sorted(tally.items())]
    return f"- {first} vs {second} (AUC): " + "; ".join(parts) + "."


def _dice(result: EvaluationResult, method: str, k: int) -> float:
    return result.summary["methods"][method]["dice"][k]["mean"]


def _unlearned(episodes: dict[str, dict[str, EpisodeDice]], results: list[EvaluationResult],
               found: dict[str, dict[tuple, Comparison]]) -> list[str]:
    """Agents whose sampled training episodes still lowered Dice at the end of training (with, for the real
    CT, how they fare on the control organ, which they trained on)."""
    control = next((r for r in results if r.task.control), None)
    lines = []
    for group, models in episodes.items():
        for kind, d in models.items():
            if kind not in (*AGENTS, "voxel_long") or d.late_gain >= 0:
                continue
            line = (f"- **The {kind} agents learned little on the {group} data**: in their last 10% of training episodes they "
                    f"still lowered the Dice of their own training masks ({number(d.late_before)} → {number(d.late_after)}, "
                    "sampled actions)")
            c = found[control.task.key].get((kind, "initial", "auc")) if control and control.task.group == group else None
            if c is not None:
                line += (f", and on the control organ, which they trained on, their AUC is {number(c.first_mean)} against "
                         f"{number(c.second_mean)} for keeping the starting mask ({c.verdict})")
            lines.append(line + ".")
    return lines


def _longer(results: list[EvaluationResult], found: dict[str, dict[tuple, Comparison]]) -> list[str]:
    """Whether the longer-trained agents beat the same agents at the base budget."""
    pairs = [(r.task.key, found[r.task.key][("voxel_long", "voxel", "auc")]) for r in results
             if ("voxel_long", "voxel", "auc") in found[r.task.key]]
    if not pairs:
        return []
    listed = ", ".join(f"{key} {c.verdict} ({number(c.first_mean)} vs {number(c.second_mean)})" for key, c in pairs)
    line = f"- **More of the same training**: voxel_long vs voxel (AUC): {listed}."
    wins, losses = (sum(c.verdict == verdict for _, c in pairs) for verdict in ("beats", "loses"))
    if wins == 0:
        line += " More steps did not help on any of these tasks, so we do not believe the number of steps is what limits the agents here."
    elif wins < len(pairs):
        line += (f" More steps helped on {wins} of {len(pairs)} tasks and hurt on {losses}: no consistent gain, so we do not "
                 "believe the number of steps alone is what limits the agents here.")
    else:
        line += " More steps helped on every task: here the base budget limits the agents."
    return [line]


def _peaks(results: list[EvaluationResult], train_interactions: int) -> list[str]:
    """Agents whose mean Dice rises above the start, peaks before the last interaction and then falls."""
    peaked, longest = [], 0
    for r in results:
        for kind in (*AGENTS, "voxel_long"):
            if kind not in r.summary["methods"]:
                continue
            curve = [e["mean"] for e in r.summary["methods"][kind]["dice"]]
            best = max(range(len(curve)), key=curve.__getitem__)
            if best >= 1 and curve[best] > curve[0] and curve[-1] < curve[best] - DRIFT:
                peaked.append(f"{r.task.key} {kind}: {number(curve[0])} at 0, {number(curve[best])} at {best}, "
                              f"{number(curve[-1])} at {len(curve) - 1}")
                longest = max(longest, len(curve) - 1)
    if not peaked:
        return []
    line = f"- **The agents peak and then lose Dice as clicks go on** ({'; '.join(peaked)})."
    if longest > train_interactions:
        line += (f" We believe this comes from training episodes of only K = {train_interactions} interactions: every "
                 "interaction moves the probabilities of the voxels around the clicks once more, and steps beyond the trained "
                 "ones were never rewarded, so small biases add up. Training with longer episodes would test this.")
    return [line]


def _drift(results: list[EvaluationResult], train_interactions: int) -> list[str]:
    """Tasks where the click network is best after one click and then drifts down."""
    drifting = [r for r in results if r.summary["settings"]["interactions"] >= 2
                and _dice(r, "supervised", -1) < _dice(r, "supervised", 1) - DRIFT]
    if not drifting:
        return []
    cases = "; ".join(f"{r.task.key}: {number(_dice(r, 'supervised', 1))} after 1 → {number(_dice(r, 'supervised', -1))} after "
                      f"{r.summary['settings']['interactions']}" for r in drifting)
    return [f"- **The click network drifts down after its first click** ({cases}). We believe this is how it is used: at every "
            "interaction it re-predicts every window of the scan from its own previous mask, and it was trained on episodes of "
            f"at most K = {train_interactions} interactions, so later clicks meet inputs it never saw and its errors feed back. The agents change "
            "only the region the new clicks can influence (`Refiner.refine`), so their edits accumulate instead."]


def _transfer(results: list[EvaluationResult], found: dict[str, dict[tuple, Comparison]]) -> list[str]:
    """The click network gains on the control (a training organ) but loses to the starting mask on unseen organs."""
    control = next((r for r in results if r.task.control), None)
    failed = [r for r in results if r.task.group == "ct" and not r.task.control
              and found[r.task.key]["supervised", "initial", "auc"].verdict == "loses"]
    if control is None or not failed or _dice(control, "supervised", -1) <= _dice(control, "supervised", 0):
        return []
    k = control.summary["settings"]["interactions"]
    unseen = "; ".join(f"{r.task.key}: {number(_dice(r, 'supervised', 0))} → {number(_dice(r, 'supervised', -1))}" for r in failed)
    agents = "; ".join(f"{r.task.key}: {number(_dice(r, 'voxel', 0))} → {number(_dice(r, 'voxel', -1))}" for r in failed)
    return [f"- **The click network learned its training organs, but that does not transfer to every unseen organ**: on the "
            f"control ({control.task.key}, a training organ) its Dice goes {number(_dice(control, 'supervised', 0))} → "
            f"{number(_dice(control, 'supervised', -1))} over {k} interactions, while on unseen organs it makes the starting mask "
            f"worse ({unseen}). With one scan to learn from, we believe it learns what the training organs look like rather than "
            f"how to follow a mask and clicks. On the same organs the per-voxel agents go {agents}."]


def _supervised_verdicts(results: list[EvaluationResult], found: dict[str, dict[tuple, Comparison]]) -> list[str]:
    """Per agent kind: its AUC verdicts against the click network on the test tasks, and whether its CT wins
    coincide with the click network losing to the starting mask."""
    tests = [r for r in results if not r.task.control]
    lines = []
    for kind in AGENTS:
        wins = [r for r in tests if found[r.task.key][kind, "supervised", "auc"].verdict == "beats"]
        hollow = [r for r in wins if found[r.task.key]["supervised", "initial", "auc"].verdict == "loses"]
        verdicts = ", ".join(f"{r.task.key} {found[r.task.key][kind, 'supervised', 'auc'].verdict}" for r in tests)
        line = f"- {kind} agents vs the supervised click network (AUC): {verdicts}."
        if hollow:
            line += (f" In {len(hollow)} of the {len(wins)} wins the click network also loses to keeping the starting mask, "
                     "so the win says more about the click network failing there than about the agents succeeding.")
        lines.append(line)
    return lines


def _same_truth(results: list[EvaluationResult], found: dict[str, dict[tuple, Comparison]]) -> list[str]:
    """On the fully labelled demo data, no agents beat the click network."""
    demo = [r for r in results if r.task.group == "demo"]
    verdicts = [found[r.task.key][kind, "supervised", "auc"].verdict for r in demo for kind in AGENTS]
    if not demo or "beats" in verdicts:
        return []
    return ["- **With full labels the agents do not beat the click network** (demo tasks: "
            + ", ".join(f"{r.task.key} {kind} {found[r.task.key][kind, 'supervised', 'auc'].verdict}" for r in demo for kind in AGENTS)
            + "). Both learn from the same complete truth, and there a per-voxel reward carries no information the supervised "
            "loss lacks, so we expect a tie at best. The agents' edge would have to come from what only a reward can express "
            "(corrections on scans without labels, accepted or rejected refinements, task rewards such as boundary distance); "
            "this benchmark does not measure that."]


def limits_section(results: list[EvaluationResult], found: dict[str, dict[tuple, Comparison]],
                   episodes: dict[str, dict[str, EpisodeDice]], train_interactions: int) -> str:
    """Markdown: verdict counts over the test tasks, our reading of the limits, then the caveats."""
    tests = [r for r in results if not r.task.control]
    pairs = [(a, "supervised") for a in AGENTS] + [(a, "initial") for a in AGENTS] + [("supervised", "initial"),
                                                                                        ("voxel", "region")]
    lines = ["## All tasks together", "", f"Over the {len(tests)} test tasks (the control left out):", "",
             *(_tally_sentence(tests, found, a, b) for a, b in pairs), ""]
    reading = (_supervised_verdicts(results, found) + _same_truth(results, found) + _unlearned(episodes, results, found) + _longer(results, found)
               + _peaks(results, train_interactions) + _transfer(results, found)
               + _drift(results, train_interactions))
    lines += ["## What limits medrl here (our reading of the numbers above)", "", *reading, ""]
    lines += ["## Caveats", "", *(f"- {caveat}" for caveat in CAVEATS), ""]
    return "\n".join(lines)
