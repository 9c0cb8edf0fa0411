"""The five models of one (data group, label regime, seed) of the rewards comparison, trained on the same
budget and cached in the work folder.

- ``supervised``: the click network (Dice + CE; partial Dice + CE on the marked voxels in the sparse regime),
  ``budget.agent_steps`` optimizer steps;
- ``ce``: per-voxel agents with the relative CE-gain reward, the same number of steps (warm start included),
  trained in two legs so that the first leg's checkpoint is the tuning recipes' starting point;
- ``dice`` and ``surface``: the two-step recipe — the CE-gain agents after ``budget.agent_steps −
  tuning_steps`` steps, tuned for ``tuning_steps`` steps by ``medrl finetune`` with the Dice-gain or the
  surface-gain reward config, the better of start and best tuned kept by the validation metric;
- ``ce_tuned``: the control of the recipe — the same tuning run with the CE-gain reward.

So every model has taken the same number of optimizer steps on the same patches' worth of data, the
same starting masks and the same robot clinician; only what drives learning differs.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml
from benchdoc_training import Budget, TrainingRecord, agents, click_network, data_module, read_record, save_record, train_cached

from medrl.env.environment import EnvConfig
from medrl.training.finetune import run_finetune
from medrl.training.label_regimes import LabelRegime

REPOSITORY = Path(__file__).resolve().parents[1]
COMPARISON_REGIMES = ("full", "sparse", "sparse_start", "noisy")
"""The label regimes compared (see :class:`Combo`)."""
TUNING_RECIPES = {
    "dice": (REPOSITORY / "configs" / "tune_dice_gain.yaml", "val/dice_5"),
    "surface": (REPOSITORY / "configs" / "tune_surface_gain.yaml", "val/nsd"),
    "ce_tuned": (REPOSITORY / "benchmarks" / "configs" / "tune_ce_gain_control.yaml", "val/nsd"),
}
"""Tuned method -> (its recipe config, the validation metric that keeps the better checkpoint). ``ce_tuned`` is
the control: the same tuning run with the CE-gain reward, so the task rewards' effect is told apart from the
tuning run's (smaller learning rate, no cloning, selection on validation)."""


@dataclass(frozen=True)
class Combo:
    """One cell of the comparison's training grid.

    Attributes:
        group: ``"demo"`` or ``"ct"``.
        regime: one of :data:`COMPARISON_REGIMES`: ``"full"``, ``"sparse"``, ``"noisy"`` (the kinds of
            :class:`medrl.training.label_regimes.LabelRegime`) or ``"sparse_start"`` (sparse marks, the reviewed
            starting mask the label of the unmarked voxels).
        seed: training seed, also the seed of the regime's simulated marks or label noise.
    """

    group: str
    regime: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.group}/{self.regime}/seed{self.seed}"

    @property
    def regime_settings(self) -> dict:
        """The label regime as recorded with the models (defaults added later left out, so older records match)."""
        settings = dataclasses.asdict(self.label_regime)
        if settings["sparse_unmarked"] == "unknown":
            del settings["sparse_unmarked"]
        return settings

    @property
    def label_regime(self) -> LabelRegime:
        if self.regime == "sparse_start":
            return LabelRegime(kind="sparse", sparse_unmarked="start", seed=self.seed)
        return LabelRegime(kind=self.regime, seed=self.seed)


def _tune(method: str, start: TrainingRecord, dataset: Path, combo: Combo, tuning_steps: int, folder: Path,
          code: str) -> TrainingRecord:
    """``medrl finetune`` of ``start`` with the ``method`` recipe on the combo's data (cached like a training)."""
    config, metric = TUNING_RECIPES[method]
    output, record_path = folder / f"{method}.ckpt", folder / f"{method}.json"
    settings = {"start": start.checkpoint, "start_finished": start.finished, "recipe": config.name, "select_by": metric,
                "steps": tuning_steps, "seed": combo.seed, "regime": combo.regime_settings}
    cached = read_record(record_path, settings, ignore=("outcome",))
    if cached is not None:
        print(f"  {combo.key} {method}: tuned earlier, reusing {output}")
        return cached
    regime_config = folder / f"{method}_regime.yaml"
    regime_config.write_text(yaml.safe_dump({"data": {"label_regime": dataclasses.asdict(combo.label_regime),
                                                      "seed": combo.seed}}), encoding="utf-8")
    overrides = [f"--trainer.max_steps={tuning_steps}", f"--trainer.val_check_interval={max(1, tuning_steps // 2)}",
                 f"--seed_everything={combo.seed}", "--trainer.enable_progress_bar=false",
                 "--trainer.enable_model_summary=false"]
    print(f"  {combo.key} {method}: tuning {tuning_steps} steps ...", flush=True)
    load_before, began = os.getloadavg()[0], time.perf_counter()
    result = run_finetune(start.checkpoint, dataset=str(dataset), output=output, configs=[str(config), str(regime_config)],
                          overrides=overrides, overwrite=True, select_by=metric)
    seconds = time.perf_counter() - began
    settings["outcome"] = {"start_score": result.start_score, "best_score": result.best_score, "kept_start": result.kept_start}
    record = save_record(record_path, output, seconds + start.seconds, start.steps + tuning_steps, load_before, settings, code)
    print(f"  {combo.key} {method}: {seconds:.0f} s, {metric} start {result.start_score} → best {result.best_score}"
          f"{' (start kept)' if result.kept_start else ''}")
    return record


def train_combo(combo: Combo, dataset: Path, budget: Budget, tuning_steps: int, work: Path, code: str) -> dict[str, TrainingRecord]:
    """Train (or reuse) ``supervised``, ``ce``, ``dice``, ``surface`` and ``ce_tuned`` of ``combo`` in ``work/models/<combo.key>``."""
    folder = work / "models" / combo.key
    regime = combo.label_regime
    data = partial(data_module, dataset, budget, combo.seed, label_regime=regime)
    base = {"dataset": str(dataset), "budget": dataclasses.asdict(budget), "regime": combo.regime_settings}
    sigma = EnvConfig().hint_sigma_mm
    records = {"supervised": train_cached(
        "supervised", partial(click_network, budget, None, sigma), data, budget.agent_steps,
        {**base, "model": "click network", "hint_sigma_mm": sigma}, folder, combo.seed, code)}
    first_leg = budget.agent_steps - tuning_steps
    build = partial(agents, "voxel", budget, None)
    records["ce_start"] = train_cached("ce_start", build, data, first_leg, {**base, "model": "voxel agents"}, folder, combo.seed, code)
    records["ce"] = train_cached("ce", build, data, budget.agent_steps, {**base, "model": "voxel agents"}, folder, combo.seed, code,
                                 resume_from=records["ce_start"])
    for method in TUNING_RECIPES:
        records[method] = _tune(method, records["ce_start"], dataset, combo, tuning_steps, folder, code)
    return records
