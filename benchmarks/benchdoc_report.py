"""The benchmark document: machine, settings, training budgets and wall times, one section per task
(:mod:`benchdoc_tables`), the overall reading and the caveats; written atomically with its plots."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchdoc_curves import EpisodeDice, episode_dice
from benchdoc_data import CtData
from benchdoc_evaluation import EvaluationPlan, EvaluationResult
from benchdoc_limits import limits_section
from benchdoc_provenance import code_version
from benchdoc_tables import AGENTS, copy_plot, task_section
from benchdoc_training import Budget, TrainingRecord, library_defaults
from doc_sections import CARRIED_SECTIONS, find_section

from medrl.data.atomic import write_text_atomically
from medrl.env.environment import EnvConfig
from medrl.evaluation.comparison import Comparison

MODEL_LABELS = {"segmenter": "segmenter (Dice + CE)", "voxel": "per-voxel agents (A2C)", "region": "per-region agents (A2C)",
                "supervised": "supervised click network (Dice + CE)", "voxel_long": "per-voxel agents, longer (A2C)"}


@dataclass(frozen=True)
class DocumentInputs:
    """Everything the document states.

    Attributes:
        command: the command line that made it.
        facts: :func:`machine_facts`.
        budget, plan: training budget and evaluation plan.
        quick: whether the tiny ``--quick`` budgets were used.
        models: data group (``demo``, ``ct``) -> model name -> its training record.
        ct: the real-CT datasets (``None`` when skipped); ct_folder: where the CT was read.
        results: one evaluation per task, in document order.
        minutes: wall time of this run of the script.
    """

    command: str
    facts: dict
    budget: Budget
    plan: EvaluationPlan
    quick: bool
    models: dict[str, dict[str, TrainingRecord]]
    ct: CtData | None
    ct_folder: Path | None
    results: list[EvaluationResult]
    minutes: float


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def _ram_gb() -> str:
    try:
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        return "unknown"
    return f"{kb / 1024 ** 2:.1f} GB"


def machine_facts(repository: Path) -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and library versions, the repository's commit, date and load."""
    import monai
    import numpy
    import pytorch_lightning
    import torch

    import medrl

    return {
        "CPU": _cpu_model(), "cores": f"{os.cpu_count()} (usable by this process: {len(os.sched_getaffinity(0))})",
        "RAM": _ram_gb(), "GPU": "none used (CPU only)", "OS": platform.platform(), "Python": platform.python_version(),
        "torch": torch.__version__, "MONAI": monai.__version__, "PyTorch Lightning": pytorch_lightning.__version__,
        "NumPy": numpy.__version__, "medrl": f"{medrl.__version__}, commit {code_version(repository)} when the document was written",
        "date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "load average at start (1 min)": f"{os.getloadavg()[0]:.2f}",
    }


def _methods_section(inputs: DocumentInputs) -> str:
    long = (f"\n- **voxel_long** (real CT only): the per-voxel agents trained with {inputs.plan.long_factor}× the steps and "
            "warm start, everything else equal — does more of the same training help?" if inputs.ct is not None else "")
    return "\n".join([
        "## Methods", "",
        "- **initial**: the starting mask, kept whatever the clicks (the baseline every refinement must beat).",
        "- **voxel**: medrl's per-voxel agents — every voxel an agent of one shared policy (MONAI UNet) that nudges its "
        "foreground probability; after each interaction they take one step in the region the new clicks can influence "
        "(`Refiner.refine`), clicked voxels keeping the clinician's label.",
        "- **region**: the same with per-region agents (SLIC supervoxels; one action per region, the mean reward of its voxels).",
        "- **supervised**: the DeepEdit-style click network (`ClickNetworkModule`): the agents' backbone and input [image, "
        "previous mask, h+, h−], two output logits per voxel, trained by Dice + CE on the truth with the same simulated "
        "clicks; at each interaction it re-predicts the whole scan in sliding windows." + long, "",
    ])


def _code_rows(inputs: DocumentInputs) -> dict[str, str]:
    """The medrl commits the models were trained with and the evaluations ran with (``+uncommitted``: with local changes)."""
    trained = sorted({record.code or "not recorded" for records in inputs.models.values() for record in records.values()})
    evaluated = sorted({result.code or "not recorded" for result in inputs.results})
    return {"medrl code of the models": ", ".join(trained), "medrl code of the evaluations": ", ".join(evaluated)}


def _machine_section(inputs: DocumentInputs) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in {**inputs.facts, **_code_rows(inputs)}.items())
    return f"## Machine and software\n\n| | |\n| --- | --- |\n{rows}\n"


def _training_rows(group: str, records: dict[str, TrainingRecord], budget: Budget) -> list[str]:
    rows = []
    for name, r in records.items():
        warm = r.settings["budget"]["warm_start_steps"]
        warm = f"{warm} cloning, then A2C" if name in (*AGENTS, "voxel_long") else "-"
        rows.append(f"| {group} | {MODEL_LABELS[name]} | {r.steps} | {warm} | {r.steps * budget.batch_size} | {r.seconds:.0f} | "
                    f"{r.seconds / r.steps:.3f} | {r.threads} | {r.load_before:.2f} → {r.load_after:.2f} |")
    return rows


def _budget_sentence(records: dict[str, TrainingRecord], group: str) -> str:
    voxel, region, supervised = (records[name].seconds for name in ("voxel", "region", "supervised"))
    return (f"On the {group} data the click network trained in {supervised:.0f} s, {supervised / voxel:.2f}× the per-voxel "
            f"agents' {voxel:.0f} s and {supervised / region:.2f}× the per-region agents' {region:.0f} s.")


def _episode_rows(episodes: dict[str, dict[str, EpisodeDice]]) -> list[str]:
    return [f"| {group} | {MODEL_LABELS[name]} | {d.early_before:.3f} → {d.early_after:.3f} | {d.late_before:.3f} → {d.late_after:.3f} |"
            for group, models in episodes.items() for name, d in models.items()]


def _episodes_section(inputs: DocumentInputs, episodes: dict[str, dict[str, EpisodeDice]]) -> str:
    return "\n".join([
        "### What the models did to their own training masks", "",
        "From the training logs: mean Dice of the training episodes' masks before → after the model acted, over the first "
        "and the last 10% of the logged steps (patches of the training cases). Agents: the starting mask → after the "
        f"episode's {inputs.budget.train_interactions} interactions, with *sampled* actions (greedy evaluation does better); "
        "click network: its input mask → its answer at the trained interaction.", "",
        "| data | model | first 10% of steps | last 10% of steps |", "| --- | --- | --- | --- |", *_episode_rows(episodes), "",
    ])


def _training_paragraph(inputs: DocumentInputs) -> str:
    b, plan, env, d = inputs.budget, inputs.plan, EnvConfig(), library_defaults()
    (lo, hi), (w_lo, w_hi), (inside, outside) = d["training_perturbation_dice"], d["ct_window"], d["soft_start"]
    segmenter = (f", and on the demo data the segmenter's mask for {b.segmenter_fraction:.0%} of the patches"
                 if "demo" in inputs.models else "")
    return (
        f"Every network is a MONAI `UNet` with channels {list(b.channels)}, strides {list(b.strides)}, no residual units "
        f"(the segmenter: one per block), instance norm. Training patches are {b.patch_size}³ voxels, one per case visit "
        f"(half centred on the organ), {b.batch_size} per optimizer step, intensities by the CT preset (HU window "
        f"{w_lo:g}…{w_hi:g} scaled to [0, 1]), each scan on its own voxel grid. Starting masks in training: seeded "
        f"perturbations of the label (Dice {lo:g}–{hi:g}; erosion/dilation, holes, missing chunks, false-positive blobs, "
        f"shifts){segmenter}. Each training episode has up to K = {b.train_interactions} robot-clinician interactions of one "
        f"click each (hint maps: Gaussians of σ = {env.hint_sigma_mm:g} mm). Agents: actions {list(env.deltas)} on each "
        f"voxel's probability, soft start {inside:g}/{outside:g}, one agent step per interaction, reward = relative "
        f"cross-entropy gain, A2C (γ = {d['gamma']:g}, entropy {d['entropy_coef']:g}) after the warm start's behaviour-cloning "
        f"steps, then a {d['cloning_weight']:g} cloning term, gradient norm clipped at {d['max_grad_norm']:g}; per-region "
        f"agents act on {d['region_method'].upper()} supervoxels of about {d['region_size_mm']:g} mm with the mean reward of "
        f"their voxels. Adam, learning rate {b.lr:g} (segmenter {d['segmenter_lr']:g}). Seed {plan.seed}; one training run "
        "per model."
    )


def _settings_section(inputs: DocumentInputs, episodes: dict[str, dict[str, EpisodeDice]]) -> str:
    b, plan = inputs.budget, inputs.plan
    rows = [row for group, records in inputs.models.items() for row in _training_rows(group, records, b)]
    return "\n".join([
        "## Settings", "",
        "### Training", "",
        _training_paragraph(inputs), "",
        "| data | model | optimizer steps | warm start | patches seen | wall time (s) | s / step | torch threads | load average before → after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |", *rows, "",
        "**How the budget is matched.** The agents and the click network get the same data, starting masks, backbone, robot "
        "clinician, optimizer and number of optimizer steps, so they see the same number of patches. An agents' step plays all "
        "K interactions with gradients; the click network's plays n − 1 of them without gradient (n uniform in 1…K) and "
        "trains on the n-th, so it needs less wall time per step. "
        + " ".join(_budget_sentence(records, group) for group, records in inputs.models.items())
        + " The machine was shared with other work while this ran (the load averages above), which slows every run alike "
        "but makes wall times noisy.", "",
        "### Evaluation", "",
        f"The robot-clinician protocol of `medrl evaluate` (`medrl.evaluation.run.run_evaluation`): from each case's starting mask, "
        f"K = {plan.interactions} interactions of one click each at the deepest voxel (EDT in mm) of the largest 26-connected "
        "error component of each method's current mask (a missed-organ component gives a positive click, a false-positive one "
        f"a negative click). Perturbed starting masks have Dice {plan.perturbation_dice[0]:g}–{plan.perturbation_dice[1]:g} "
        f"with the label, seeded per case from seed {plan.seed}; the robot clinician is seeded per case as well, the same for "
        "every method. Metrics on the working grid (RAS, the scan's spacing): Dice; NoC@85/90 = first interaction reaching that "
        "Dice (K when never; the count of cases that reached it in brackets); AUC = area under the Dice-vs-interactions curve "
        "divided by K; HD95 (mm, mean over cases where both masks are non-empty) and NSD at 2 mm after the last interaction. "
        "Brackets: Student-t 95% confidence interval of the mean over cases (none with one case). "
        "**Verdicts** compare two methods on the same cases: the paired per-case difference, its mean and Student-t 95% "
        "interval; *beats* when the interval lies above 0, *loses* when below, *ties* when it contains 0.", "",
        _episodes_section(inputs, episodes),
    ])


def _ct_section(inputs: DocumentInputs) -> str:
    if inputs.ct is None:
        return "## Real CT\n\nSkipped in this run (`--skip-ct`).\n"
    training = ", ".join(f"{o.name} ({o.voxels})" for o in inputs.ct.training_organs)
    test = ", ".join(f"{o.name} ({o.voxels})" for o in inputs.ct.test_organs)
    return "\n".join([
        "## Real CT: split by organ", "",
        f"`{inputs.ct_folder.name}`: one abdominal CT, {' × '.join(map(str, inputs.ct.shape))} voxels of "
        f"{' × '.join(f'{z:g}' for z in inputs.ct.spacing)} mm, with a multi-organ label map made by a "
        "model (TotalSegmentator's test reference: good, not perfect). One scan allows no split by patient, so the split is by "
        f"organ. Training: the binary label of every other organ with at least {inputs.plan.ct_min_voxels} voxels, each a "
        f"training case on the same image — {training} (voxels). Test: {test}, each its own task, its cases "
        f"{inputs.plan.ct_repeats} seeded perturbations of the organ's label. A control task evaluates "
        f"{inputs.ct.control_organ.name}, a training organ, the same way: it tells a method that does not transfer to unseen "
        "organs from one that did not learn at all. No segmenter is trained on the CT: the starts are "
        "perturbed labels, and the agents and the click network train from perturbed labels only. Derived labels and dataset "
        "lists live in the work folder, never in the repository.", "",
    ])


def _summary_section(found: dict[str, dict], inputs: DocumentInputs) -> str:
    lines = ["## Summary", ""]
    for result in inputs.results:
        c: dict[tuple, Comparison] = found[result.task.key]
        methods = result.summary["methods"]
        best = max(methods, key=lambda name: methods[name]["auc"]["mean"] or 0.0)
        verdicts = "; ".join(f"{a} vs supervised: {c[a, 'supervised', 'auc'].verdict}" for a in AGENTS)
        lines.append(f"- {'' if result.task.control else '**'}{result.task.title}{'' if result.task.control else '**'}: best mean AUC {best} ({methods[best]['auc']['mean']:.3f}); {verdicts}; "
                     f"voxel vs initial: {c['voxel', 'initial', 'auc'].verdict}.")
    return "\n".join(lines) + "\n"


def _durations(inputs: DocumentInputs) -> str:
    """How long this run took, and how long one from an empty work folder takes (the measured wall times summed)."""
    training = sum(record.seconds for records in inputs.models.values() for record in records.values())
    evaluation = sum(result.seconds for result in inputs.results)
    return (f"From an empty work folder this takes about {(training + evaluation) / 60:.0f} min with {_threads(inputs)} torch "
            f"thread(s) here ({training / 60:.0f} min training, {evaluation / 60:.0f} min evaluation, as measured below); trained "
            f"models and evaluations are reused from the work folder when their settings match (this run: "
            f"{inputs.minutes:.1f} min).")


def _threads(inputs: DocumentInputs) -> str:
    threads = sorted({record.threads for records in inputs.models.values() for record in records.values()})
    return "/".join(str(t) for t in threads)


def render(inputs: DocumentInputs, plots: dict[str, str]) -> str:
    """The whole Markdown document; ``plots`` maps task keys to plot file names beside it."""
    sections, found = [], {}
    for result in inputs.results:
        text, found[result.task.key] = task_section(result, plots[result.task.key])
        sections.append(text)
    quick = ("\n**Quick run** (`--quick`: tiny budgets and few cases, a check of the pipeline): these numbers mean nothing.\n"
             if inputs.quick else "")
    header = "\n".join([
        "# Benchmarks: medrl's agents against keeping the mask and against a supervised click network", "",
        "Generated by `benchmarks/make_benchmarks_doc.py`; every number below was measured by that run. Do not edit by hand: "
        f"rerun\n\n```\n{inputs.command}\n```\n\n{_durations(inputs)}", quick,
    ])
    episodes = {group: {name: d for name, record in records.items() if (d := episode_dice(record, name)) is not None}
                for group, records in inputs.models.items()}
    return "\n".join([header, _summary_section(found, inputs), _methods_section(inputs), _machine_section(inputs),
                      _settings_section(inputs, episodes),
                      _ct_section(inputs), *sections, limits_section(inputs.results, found, episodes, inputs.budget.train_interactions)])


def write_document(inputs: DocumentInputs, path: Path) -> Path:
    """Copy each task's plot beside ``path`` and write the document there (both atomically)."""
    plots = {result.task.key: copy_plot(result, path.parent) for result in inputs.results}
    text = render(inputs, plots)
    earlier = path.read_text(encoding="utf-8") if path.is_file() else ""
    for name in CARRIED_SECTIONS:  # the parts other scripts write are kept
        if (section := find_section(earlier, name)) is not None:
            text = text.rstrip("\n") + "\n\n" + section
    write_text_atomically(path, text)
    return path
