"""The robot clinician's play of one case, shared by the feedback benchmarks (``bench_feedback_finetune.py`` on
synthetic volumes, ``bench_feedback_real.py`` on real patients)."""

from __future__ import annotations

import numpy as np
import torch

from medrl.data.mask_metrics import dice_score
from medrl.inference.refiner import Refiner

CLICKS = (1, 3, 5)


def play(refiner: Refiner, data: dict, start: np.ndarray, region: np.ndarray, seed: int, region_name: str,
         passes: dict[str, Refiner] | None = None) -> dict:
    """Dice and recall of ``region`` (the systematic error's voxels) of ``start``, after one agents' pass without
    clicks per entry of ``passes`` (default ``{"pass": refiner}``), and after ``CLICKS`` robot clicks of ``refiner``.

    Args:
        data: a prepared case with its ``label`` (1, X, Y, Z).
        start, region: (X, Y, Z) bool starting mask and the voxels whose recall is recorded (empty: NaN).
        region_name: the recall's key in the result (``"cap"``, ``"tail"``).

    Returns:
        ``{"dice": {key: float}, region_name: {key: float}}``, keys ``start``, the passes' names, ``@k``.
    """
    truth = data["label"][0].numpy() > 0
    scores = {"dice": {}, region_name: {}}

    def record(key, mask):
        scores["dice"][key] = dice_score(mask, truth)
        scores[region_name][key] = float(mask[region].mean()) if region.any() else float("nan")

    record("start", start)
    for key, passing in (passes or {"pass": refiner}).items():
        record(key, passing.refine(data, torch.from_numpy(start))[0, 0].numpy() >= 0.5)
    env = refiner.new_env(data, torch.from_numpy(start), with_label=True, seed=seed)
    for k in range(1, max(CLICKS) + 1):
        env.add_clicks()
        refiner.act(env)
        if k in CLICKS:
            record(f"@{k}", env.mask()[0, 0].cpu().numpy())
    return scores
