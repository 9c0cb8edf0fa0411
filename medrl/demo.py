"""``medrl demo``: the whole pipeline on built-in data, on a CPU, in minutes.

1. writes the synthetic CT-like dataset (three orientations, anisotropic spacing) and the MNI152
   real-MRI case (nilearn's template and its white-matter map) into ``OUTPUT/data``;
2. trains the initial segmenter (Dice + CE) and then the refinement agents (warm start, then A2C);
3. plays the robot-user protocol (5 interactions) on held-out cases: each synthetic test case twice,
   from the segmenter's mask and from a seeded perturbation of its label (a worse start, as from a
   weaker model), the MNI152 case from a seeded perturbation of its white-matter mask (the segmenter
   never saw MR), and prints Dice per interaction for medrl beside "initial mask kept";
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
from medrl.evaluation.protocol import robot_user_protocol
from medrl.inference.refiner import Refiner
from medrl.training.datamodule import MedrlDataModule
from medrl.training.refiner import RefinerModule
from medrl.training.segmenter import SegmenterModule


@dataclass
class DemoSettings:
    """Budget and sizes of the demo (defaults: about 5-8 minutes on 2 CPU cores).

    Attributes:
        segmenter_steps: optimizer steps of the segmenter.
        refiner_steps: optimizer steps of the agents (the first ``warm_start_steps`` clone the oracle).
        warm_start_steps: behaviour-cloning steps before A2C takes over.
        interactions: robot-clinician interactions in evaluation.
        train_interactions: interactions per training episode.
        cases: (train, validation, test) synthetic cases.
        patch_size: training patch edge in voxels.
        batch_size: patches per step.
        channels: UNet channels of both networks.
        max_minutes: hard cap on each training stage's wall time.
        seed: seed of data, training and evaluation.
    """

    segmenter_steps: int = 300
    refiner_steps: int = 700
    warm_start_steps: int = 200
    interactions: int = 5
    train_interactions: int = 3
    cases: tuple[int, int, int] = (16, 2, 6)
    patch_size: int = 32
    batch_size: int = 4
    channels: tuple[int, ...] = (8, 16, 32, 64)
    max_minutes: float = 4.0
    seed: int = 0


def _trainer(steps: int, settings: DemoSettings, root: Path) -> pl.Trainer:
    return pl.Trainer(
        max_steps=steps, max_time={"minutes": settings.max_minutes}, accelerator="auto", devices=1,
        logger=pl.loggers.CSVLogger(root), default_root_dir=root, enable_checkpointing=False,
        num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=10, enable_model_summary=False,
    )


def _save(trainer: pl.Trainer, path: Path) -> Path:
    with atomic_path(path) as tmp:
        trainer.save_checkpoint(tmp)
    return path


def train(output: Path, settings: DemoSettings) -> Path:
    """Train segmenter then agents on the demo data; return the agents' checkpoint (holding both)."""
    if not (output / "data" / "dataset.json").is_file():
        train_cases, val_cases, test_cases = settings.cases
        write_synthetic_dataset(output / "data", train_cases, val_cases, test_cases, seed=settings.seed, include_mni152=True)
    data = MedrlDataModule(
        str(output / "data"), patch_size=(settings.patch_size,) * 3, patches_per_case=1, batch_size=settings.batch_size,
        seed=settings.seed,
    )
    pl.seed_everything(settings.seed, workers=True)
    print(f"[1/3] training the segmenter ({settings.segmenter_steps} steps)")
    segmenter = SegmenterModule(channels=settings.channels, strides=(2,) * (len(settings.channels) - 1),
                                roi_size=(settings.patch_size,) * 3)
    trainer = _trainer(settings.segmenter_steps, settings, output / "logs" / "segmenter")
    trainer.fit(segmenter, data)
    segmenter_ckpt = _save(trainer, output / "segmenter.ckpt")

    print(f"[2/3] training the refinement agents ({settings.refiner_steps} steps, "
          f"{settings.warm_start_steps} of them warm start)")
    agents = RefinerModule(
        segmenter_checkpoint=str(segmenter_ckpt), segmenter_fraction=0.5, interactions=settings.train_interactions,
        policy_channels=settings.channels, policy_strides=(2,) * (len(settings.channels) - 1), lr=3e-3,
        roi_size=(settings.patch_size,) * 3,
        a2c={"warm_start_updates": settings.warm_start_steps, "cloning_weight": 0.1, "max_grad_norm": 1.0},
    )
    trainer = _trainer(settings.refiner_steps, settings, output / "logs" / "agents")
    trainer.fit(agents, data)
    return _save(trainer, output / "medrl_demo.ckpt")


def _evaluate_case(refiner: Refiner, case: dict, start: str, settings: DemoSettings, index: int, examples: Path) -> dict:
    data = refiner.prepare(case["image"], label=case["label"])
    if start == "segmenter":
        initial = refiner.segment(data)
    else:
        label = data["label"][0].numpy()
        mask, _ = perturb_mask(label, refiner.spacing(data), settings.seed + index, PerturbationConfig(target_dice=(0.6, 0.8)))
        initial = torch.from_numpy(mask)
    result = robot_user_protocol(refiner, data, initial, settings.interactions, seed=settings.seed + index)
    name = Path(case["image"]).name.split(".")[0]
    prefix = f"{name}_perturbed" if start == "perturbed" and case.get("modality") != "MR" else name
    for tag, volume in (("initial", initial), ("refined", result.probability >= 0.5)):
        back = refiner.to_input_grid(data, torch.as_tensor(volume).reshape(data["image"].shape))
        write_mask(back[0].numpy(), np.asarray(back.affine), examples / f"{prefix}_{tag}.nii.gz", overwrite=True,
                   inputs=(case["image"], case["label"]))
    return {"case": name, "start": start, "orientation": case.get("orientation", ""), "dice": result.dice.tolist()}


def evaluate(checkpoint: Path, output: Path, settings: DemoSettings) -> list[dict]:
    """Robot-user protocol on the held-out synthetic cases and the MNI152 case."""
    dataset = output / "data" / "dataset.json"
    jobs = [("synthetic", case, start) for start in ("segmenter", "perturbed") for case in load_dataset(dataset, "test")]
    jobs += [("mni152", case, "perturbed") for case in load_dataset(dataset, "test_mr")]
    refiners = {"synthetic": Refiner.from_checkpoint(checkpoint),
                "mni152": Refiner.from_checkpoint(checkpoint, override_preprocessing=Preprocessing(intensity="mr"))}
    examples = output / "examples"
    rows = []
    for index, (group, case, start) in enumerate(tqdm(jobs, desc="[3/3] robot-user protocol", unit="case")):
        rows.append({"group": group, **_evaluate_case(refiners[group], case, start, settings, index, examples)})
    return rows


def _groups(rows: list[dict]) -> dict[tuple[str, str], np.ndarray]:
    """(group, start) -> (cases, K + 1) Dice, in the order of ``rows``."""
    keys = dict.fromkeys((row["group"], row["start"]) for row in rows)
    return {key: np.array([row["dice"] for row in rows if (row["group"], row["start"]) == key]) for key in keys}


def format_table(rows: list[dict], interactions: int) -> str:
    """Dice per interaction, per case and as means per group and start, medrl beside 'initial mask kept'."""
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
    """Mean Dice vs clicks per group and start, medrl and 'initial mask kept'."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (e.g. a notebook's) stays as it is

    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    for ((group, start), dice), colour in zip(_groups(rows).items(), ("tab:blue", "tab:orange", "tab:green")):
        group = f"{group} from {start}"
        clicks = np.arange(dice.shape[1])
        axis.plot(clicks, dice.mean(0), "o-", color=colour, label=f"medrl, {group} ({len(dice)})")
        if len(dice) > 1:
            axis.fill_between(clicks, dice.min(0), dice.max(0), color=colour, alpha=0.15, label=f"min-max over cases, {group}")
        axis.plot(clicks, np.full(len(clicks), dice[:, 0].mean()), "--", color=colour, label=f"initial mask kept, {group}")
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
    checkpoint = train(output, settings)
    rows = evaluate(checkpoint, output, settings)
    minutes = (time.perf_counter() - start) / 60
    print()
    print(format_table(rows, settings.interactions))
    results = {"minutes": round(minutes, 2), "settings": {k: v for k, v in vars(settings).items()}, "cases": rows}
    write_text_atomically(output / "results.json", json.dumps(results, indent=2))
    plot(rows, output / "dice_vs_clicks.png")
    print(f"\nfinished in {minutes:.1f} min: checkpoint {checkpoint}, plot {output / 'dice_vs_clicks.png'}, "
          f"example masks in {output / 'examples'}")
    return results
