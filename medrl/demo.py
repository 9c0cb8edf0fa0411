"""``medrl demo``: the whole pipeline on built-in data, on a CPU, in minutes.

1. writes the synthetic CT-like dataset (three orientations, anisotropic spacing) and the MNI152
   real-MRI case (nilearn's template and its white-matter map) into ``OUTPUT/data``;
2. trains the initial segmenter (Dice + CE) and then the refinement agents (warm start, then A2C) by the
   recipe ``medrl/configs/demo.yaml`` (also a ``medrl fit`` config), for the configured number of steps;
3. plays the robot-clinician protocol (5 interactions) on held-out cases: each synthetic test case twice,
   from the segmenter's mask and from a seeded perturbation of its label (a worse start, as from a
   weaker model), the MNI152 case from a seeded perturbation of its white-matter mask (the segmenter
   never saw MR), and prints Dice per interaction for medrl beside "starting mask kept";
4. writes ``OUTPUT/medrl_demo.ckpt`` (everything ``medrl predict`` needs), ``OUTPUT/dice_vs_clicks.png``,
   ``OUTPUT/results.json`` and example masks on each scan's own grid in ``OUTPUT/examples/``.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from tqdm.auto import tqdm

from medrl.data.atomic import atomic_path, write_text_atomically
from medrl.data.datasets import load_dataset
from medrl.data.perturbation import PerturbationConfig, perturb_mask
from medrl.data.synthetic import write_synthetic_dataset
from medrl.data.transforms import Preprocessing
from medrl.data.writers import write_mask
from medrl.evaluation.protocol import play_agents_protocol
from medrl.inference.refiner import Refiner
from medrl.training.agents import AgentsModule
from medrl.training.datamodule import MedrlDataModule
from medrl.training.progress import StepProgressBar
from medrl.training.segmenter import SegmenterModule

DEMO_SEGMENTER_FRACTION = 0.5
"""Share of the agents' training patches that start from the demo segmenter's mask (the rest: perturbed labels)."""
DEMO_RECIPE = Path(__file__).parent / "configs" / "demo.yaml"
"""The agents' recipe of the demo, also a ``medrl fit`` config (``medrl fit --config medrl/configs/demo.yaml``)."""


def demo_recipe(path: Path = DEMO_RECIPE) -> dict:
    """The demo's LightningCLI config as a dict (``model.init_args`` of the agents, ``data``, ``trainer``)."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="ascii"))


@dataclass
class DemoSettings:
    """Budget and sizes of the demo (defaults: about 5-8 minutes on 2 CPU cores); ``None`` takes the recipe's
    (:data:`DEMO_RECIPE`).

    Attributes:
        segmenter_steps: optimizer steps of the segmenter.
        refiner_steps: optimizer steps of the agents (``None``: the recipe's ``trainer.max_steps``).
        warm_start_steps: behaviour-cloning steps before A2C takes over (``None``: the recipe's
            ``a2c.warm_start_updates``), at most ``refiner_steps``.
        interactions: robot-clinician interactions in evaluation.
        cases: (train, validation, test) synthetic cases.
        channels: UNet channels of both networks (``None``: the recipe's ``policy_channels``).
        max_minutes: optional cap on each training stage's wall time (``None``: none). With a cap a loaded
            machine trains fewer steps and prints other numbers; the demo prints the steps each stage ran.
        seed: seed of data, training and evaluation.
    """

    segmenter_steps: int = 300
    refiner_steps: int | None = None
    warm_start_steps: int | None = None
    interactions: int = 5
    cases: tuple[int, int, int] = (16, 2, 6)
    channels: tuple[int, ...] | None = None
    max_minutes: float | None = None
    seed: int = 0

    def agents_arguments(self, recipe: dict) -> dict:
        """The AgentsModule's arguments: the recipe's ``model.init_args`` with this demo's overrides."""
        arguments = dict(recipe["model"]["init_args"])
        arguments["a2c"] = dict(arguments.get("a2c") or {})
        steps = self.agent_steps(recipe)
        warm = arguments["a2c"].get("warm_start_updates", 0) if self.warm_start_steps is None else self.warm_start_steps
        arguments["a2c"]["warm_start_updates"] = min(warm, steps)
        if self.channels is not None:
            arguments.update(policy_channels=tuple(self.channels), policy_strides=(2,) * (len(self.channels) - 1))
        return arguments

    def agent_steps(self, recipe: dict) -> int:
        """Optimizer steps of the agents."""
        return int(recipe["trainer"]["max_steps"] if self.refiner_steps is None else self.refiner_steps)


def _trainer(steps: int, settings: DemoSettings, root: Path) -> pl.Trainer:
    cap = None if settings.max_minutes is None else {"minutes": settings.max_minutes}
    return pl.Trainer(
        max_steps=steps, max_time=cap, accelerator="auto", devices=1,
        logger=pl.loggers.CSVLogger(root), default_root_dir=root, enable_checkpointing=False,
        num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=10, enable_model_summary=False,
        callbacks=[StepProgressBar()],
    )


def _fit(module: pl.LightningModule, data: MedrlDataModule, steps: int, settings: DemoSettings, root: Path, path: Path,
         stage: str) -> tuple[Path, int]:
    """Train ``module`` for ``steps`` (fewer only under ``settings.max_minutes``), save it, say how many ran."""
    trainer = _trainer(steps, settings, root)
    clock = time.perf_counter()
    trainer.fit(module, data)
    print(f"      {stage}: {trainer.global_step} of {steps} steps in {(time.perf_counter() - clock) / 60:.1f} min")
    with atomic_path(path) as tmp:
        trainer.save_checkpoint(tmp)
    return path, trainer.global_step


def train(output: Path, settings: DemoSettings, recipe: dict | None = None) -> tuple[Path, dict]:
    """Train segmenter then agents on the demo data; return the agents' checkpoint (holding both) and the
    steps each stage ran (``{"segmenter": n, "agents": n}``)."""
    recipe = recipe or demo_recipe()
    agents_arguments = settings.agents_arguments(recipe)
    patch_size = tuple(recipe["data"]["patch_size"])
    if not (output / "data" / "dataset.json").is_file():
        train_cases, val_cases, test_cases = settings.cases
        write_synthetic_dataset(output / "data", train_cases, val_cases, test_cases, seed=settings.seed, include_mni152=True)
    data = MedrlDataModule(str(output / "data"), patch_size=patch_size, patches_per_case=recipe["data"]["patches_per_case"],
                           batch_size=recipe["data"]["batch_size"], intensity=recipe["data"]["intensity"], seed=settings.seed)
    pl.seed_everything(settings.seed, workers=True)
    print(f"[1/3] training the segmenter ({settings.segmenter_steps} steps)")
    channels = tuple(agents_arguments["policy_channels"])
    segmenter = SegmenterModule(channels=channels, strides=(2,) * (len(channels) - 1), roi_size=patch_size)
    segmenter_ckpt, segmenter_steps = _fit(segmenter, data, settings.segmenter_steps, settings, output / "logs" / "segmenter",
                                           output / "segmenter.ckpt", "segmenter")

    steps = settings.agent_steps(recipe)
    print(f"[2/3] training the refinement agents ({steps} steps, {agents_arguments['a2c']['warm_start_updates']} of them "
          f"warm start; recipe {DEMO_RECIPE.name})")
    agents = AgentsModule(**{**agents_arguments, "segmenter_checkpoint": str(segmenter_ckpt),
                             "segmenter_fraction": DEMO_SEGMENTER_FRACTION})
    checkpoint, agent_steps = _fit(agents, data, steps, settings, output / "logs" / "agents", output / "medrl_demo.ckpt", "agents")
    return checkpoint, {"segmenter": segmenter_steps, "agents": agent_steps}


def _evaluate_case(refiner: Refiner, case: dict, start: str, settings: DemoSettings, index: int, examples: Path) -> dict:
    data = refiner.prepare(case["image"], label=case["label"])
    if start == "segmenter":
        initial = refiner.segment(data)
    else:
        label = data["label"][0].numpy()
        mask, _ = perturb_mask(label, refiner.spacing(data), settings.seed + index, PerturbationConfig(target_dice=(0.6, 0.8)))
        initial = torch.from_numpy(mask)
    result = play_agents_protocol(refiner, data, initial, settings.interactions, seed=settings.seed + index)
    name = Path(case["image"]).name.split(".")[0]
    prefix = f"{name}_perturbed" if start == "perturbed" and case.get("modality") != "MR" else name
    for tag, volume in (("initial", initial), ("refined", result.probability >= 0.5)):
        back = refiner.to_input_grid(data, torch.as_tensor(volume).reshape(data["image"].shape))
        write_mask(back[0].numpy(), np.asarray(back.affine), examples / f"{prefix}_{tag}.nii.gz", overwrite=True,
                   inputs=(case["image"], case["label"]))
    return {"case": name, "start": start, "orientation": case.get("orientation", ""), "dice": result.dice.tolist()}


def evaluate(checkpoint: Path, output: Path, settings: DemoSettings) -> list[dict]:
    """Robot-clinician protocol on the held-out synthetic cases and the MNI152 case."""
    dataset = output / "data" / "dataset.json"
    jobs = [("synthetic", case, start) for start in ("segmenter", "perturbed") for case in load_dataset(dataset, "test")]
    jobs += [("mni152", case, "perturbed") for case in load_dataset(dataset, "test_mr")]
    refiners = {"synthetic": Refiner.from_checkpoint(checkpoint),
                "mni152": Refiner.from_checkpoint(checkpoint, override_preprocessing=Preprocessing(intensity="mr"))}
    examples = output / "examples"
    rows = []
    for index, (group, case, start) in enumerate(tqdm(jobs, desc="[3/3] robot-clinician protocol", unit="case")):
        rows.append({"group": group, **_evaluate_case(refiners[group], case, start, settings, index, examples)})
    return rows


def _groups(rows: list[dict]) -> dict[tuple[str, str], np.ndarray]:
    """(group, start) -> (cases, K + 1) Dice, in the order of ``rows``."""
    keys = dict.fromkeys((row["group"], row["start"]) for row in rows)
    return {key: np.array([row["dice"] for row in rows if (row["group"], row["start"]) == key]) for key in keys}


def format_table(rows: list[dict], interactions: int) -> str:
    """Dice per interaction, per case and as means per group and start, medrl beside 'starting mask kept'."""
    header = f"{'case':<22}{'start':<11}" + "".join(f"{'init' if k == 0 else f'click {k}':>9}" for k in range(interactions + 1))
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['case'] + ' ' + row['orientation']:<22}{row['start']:<11}" + "".join(f"{d:9.3f}" for d in row["dice"]))
    lines.append("-" * len(header))
    for (group, start), dice in _groups(rows).items():
        mean = dice.mean(axis=0)
        lines.append(f"{'mean ' + group + f' ({len(dice)})':<22}{start:<11}" + "".join(f"{d:9.3f}" for d in mean))
        lines.append(f"{'':<22}{'  kept':<11}" + "".join(f"{mean[0]:9.3f}" for _ in mean))
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path:
    """Mean Dice vs clicks per group and start, medrl and 'starting mask kept'."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (e.g. a notebook's) stays as it is

    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    for ((group, start), dice), colour in zip(_groups(rows).items(), ("tab:blue", "tab:orange", "tab:green")):
        group = f"{group} from {start}"
        clicks = np.arange(dice.shape[1])
        axis.plot(clicks, dice.mean(0), "o-", color=colour, label=f"medrl, {group} ({len(dice)})")
        if len(dice) > 1:
            axis.fill_between(clicks, dice.min(0), dice.max(0), color=colour, alpha=0.15, label=f"min-max over cases, {group}")
        axis.plot(clicks, np.full(len(clicks), dice[:, 0].mean()), "--", color=colour, label=f"starting mask kept, {group}")
    axis.set(xlabel="interactions (one robot click each)", ylabel="Dice", title="medrl demo: Dice vs clicks (held-out cases)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    return path


def _quiet_lightning() -> None:
    """Keep the demo's output to progress bars and results: hide Lightning's start-up notes and tips."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message="The number of training batches.*")
    warnings.filterwarnings("ignore", message="Found .* module.* in eval mode")  # the frozen segmenter, on purpose


def run_demo(output: str | Path, settings: DemoSettings | None = None) -> dict:
    """Run the whole demo into ``output``; return the results written to ``results.json``."""
    settings = settings or DemoSettings()
    _quiet_lightning()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    checkpoint, steps = train(output, settings)
    rows = evaluate(checkpoint, output, settings)
    minutes = (time.perf_counter() - start) / 60
    print()
    print(format_table(rows, settings.interactions))
    results = {"minutes": round(minutes, 2), "settings": {k: v for k, v in vars(settings).items()}, "steps": steps,
               "cases": rows}
    write_text_atomically(output / "results.json", json.dumps(results, indent=2))
    plot(rows, output / "dice_vs_clicks.png")
    print(f"\nfinished in {minutes:.1f} min: checkpoint {checkpoint}, plot {output / 'dice_vs_clicks.png'}, "
          f"example masks in {output / 'examples'}")
    return results
