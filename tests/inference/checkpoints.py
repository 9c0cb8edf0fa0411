"""Checkpoints for the inference tests, made the way training makes them (``on_save_checkpoint``).

* :func:`untrained_checkpoint`: a complete bundle (segmenter + policy) with random weights, for
  geometry and file-handling tests.
* :func:`trained_agents_checkpoint`: agents trained for a few seconds on the agents' synthetic
  ellipsoids (tests/agents/synthetic_volumes.py, intensities about 0 and 1, 1 mm voxels), so that a
  click measurably helps; intensity preset "none", no segmenter (start from a mask).
"""

from __future__ import annotations

from pathlib import Path

import torch

from medrl.agents.a2c import A2CConfig, a2c_update
from medrl.agents.rollout import rollout
from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.state import soft_start
from medrl.training.agents import AgentsModule
from medrl.training.segmenter import SegmenterModule
from tests.agents.synthetic_volumes import synthetic_batch


def _save(module: AgentsModule, path: Path, preprocessing: dict | None = None) -> Path:
    saved = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(saved)
    if preprocessing is not None:
        saved["medrl"]["preprocessing"] = preprocessing
    torch.save(saved, path)
    return path


def untrained_checkpoint(folder: Path, roi: int = 16) -> Path:
    """Segmenter (channels 4, 8) and policy (4, 8) with random weights, windows of ``roi``³."""
    segmenter = SegmenterModule(channels=(4, 8), strides=(2,), roi_size=(roi, roi, roi))
    segmenter_path = folder / "segmenter.ckpt"
    torch.save({"state_dict": segmenter.state_dict(), "medrl": {"format": 1, **segmenter.bundle_parts()}}, segmenter_path)
    agents = AgentsModule(segmenter_checkpoint=str(segmenter_path), policy_channels=(4, 8), policy_strides=(2,),
                           roi_size=(roi, roi, roi))
    return _save(agents, folder / "agents.ckpt")


def trained_agents_checkpoint(folder: Path, updates: int = 80, window: tuple[int, int, int] = (16, 16, 16)) -> Path:
    """Agents trained by A2C with a warm start on 8 seeded 16³ ellipsoids (about 10 s on 2 cores)."""
    torch.manual_seed(0)
    module = AgentsModule(policy_channels=(8, 16, 32), policy_strides=(2, 2), roi_size=window)
    optimizer = torch.optim.Adam(module.policy.parameters(), lr=3e-3)
    config = A2CConfig(warm_start_updates=updates // 2, cloning_weight=0.1)
    batch = synthetic_batch(8, 16, seed=0)
    env = RefinementEnv(EnvConfig(seed=0))
    for update in range(updates):
        env.reset(batch.image, soft_start(batch.initial), label=batch.label)
        a2c_update(module.policy, optimizer, rollout(env, module.policy, 2, steps=1), config, update)
    return _save(module, folder / "trained_agents.ckpt", preprocessing={"intensity": "none"})
