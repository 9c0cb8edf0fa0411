"""It learns from verdicts alone: agents fine-tuned only on clinicians' accepted and rejected refinements
(no label, no correction) act the accepted way and against the rejected way on volumes they never saw.

Each volume holds an organ (intensity ≈ 1) and a bright distractor outside it (≈ 2); the starting mask
misses the organ's top. An *accepted* refinement raised p on the missing top (the signed verdict map is
+1 there), a *rejected* one raised p on the distractor (−1 there). Nothing else carries a reward. The
measure is the policy's expected change of p, E_π[Δ] = Σ_a π(a|s)·delta_a, from the starting state of
unseen volumes, on the missing top (accepted way: up) and on the distractor (rejected way: up; away
from it: down), against the policy it started from.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from medrl.agents.a2c import A2CConfig, a2c_update
from medrl.agents.policy import PolicyValueNet
from medrl.agents.rollout import rollout
from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.rewards.verdict import ACCEPTED, RAISED, REJECTED, signed_verdict_map
from medrl.env.state import soft_start

from .synthetic_volumes import ellipsoid

SIZE = 16


def organ_and_distractor(n: int, seed: int) -> dict[str, torch.Tensor]:
    """``n`` seeded volumes (n, 1, 16, 16, 16): ``image`` float32 (organ ≈ 1, distractor ≈ 2, noise 0.3),
    bool ``start`` (the organ without its top along z), ``missing`` (that top), ``distractor``."""
    rng = np.random.default_rng(seed)
    volumes = {"image": [], "start": [], "missing": [], "distractor": []}
    for _ in range(n):
        centre = np.array([0.4, *rng.uniform(0.4, 0.6, 2)]) * SIZE
        radii = rng.uniform(0.22, 0.3, 3) * SIZE
        organ = ellipsoid(SIZE, centre, radii)
        start = organ.copy()
        start[:, :, int(round(centre[2] + radii[2] * rng.uniform(0.0, 0.3))):] = False
        distractor = ellipsoid(SIZE, np.array([0.82, *rng.uniform(0.25, 0.75, 2)]) * SIZE, np.full(3, 0.16 * SIZE)) & ~organ
        volumes["image"].append(organ + 2.0 * distractor + rng.normal(0.0, 0.3, organ.shape))
        volumes["start"].append(start)
        volumes["missing"].append(organ & ~start)
        volumes["distractor"].append(distractor)
    return {key: torch.from_numpy(np.stack(arrays)).unsqueeze(1) for key, arrays in volumes.items()}


def verdict_episodes(volumes: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each volume twice: once with an accepted refinement that raised its missing top, once with a
    rejected one that raised its distractor. Returns images, starting masks and signed verdict maps (2n, 1, ...)."""
    raised_top = volumes["missing"].to(torch.uint8) * RAISED
    raised_distractor = volumes["distractor"].to(torch.uint8) * RAISED
    n = len(raised_top)
    verdict = torch.tensor([ACCEPTED] * n + [REJECTED] * n, dtype=torch.float32)
    signed = signed_verdict_map(torch.cat([raised_top, raised_distractor]), verdict)
    return volumes["image"].float().repeat(2, 1, 1, 1, 1), volumes["start"].repeat(2, 1, 1, 1, 1), signed


def fine_tune_on_verdicts(policy: PolicyValueNet, volumes: dict[str, torch.Tensor], updates: int) -> PolicyValueNet:
    """A2C on the verdicts' reward alone (no cloning, no label): episodes of 2 agent steps from the start.
    The episode ends there (no bootstrap): with so few steps, the critic never sees the saturated states
    it would bootstrap from."""
    policy = copy.deepcopy(policy)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    config = A2CConfig(cloning_weight=0.0, bootstrap=False)
    image, start, verdict = verdict_episodes(volumes)
    env = RefinementEnv(EnvConfig(seed=0))
    for update in range(updates):
        env.reset(image, soft_start(start), verdict=verdict)
        a2c_update(policy, optimizer, rollout(env, policy, interactions=1, steps=2, record_oracle=False), config, update)
    return policy


@torch.no_grad()
def expected_change(policy: PolicyValueNet, volumes: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean E_π[Δp] from the starting state on the missing top and on the distractor."""
    env = RefinementEnv()
    logits, _ = policy(env.reset(volumes["image"].float(), soft_start(volumes["start"])))
    change = (torch.softmax(logits, 1) * env.actions.delta_tensor().view(1, -1, 1, 1, 1)).sum(1, keepdim=True)
    return {region: change[volumes[region]].mean().item() for region in ("missing", "distractor")}


@torch.no_grad()
def greedy_foreground(policy: PolicyValueNet, volumes: dict[str, torch.Tensor], steps: int = 2) -> dict[str, float]:
    """Share of the missing top and of the distractor in the mask after ``steps`` greedy agent steps."""
    env = RefinementEnv()
    env.reset(volumes["image"].float(), soft_start(volumes["start"]))
    for _ in range(steps):
        env.step(policy(env.state())[0].max(1).indices)
    return {region: env.mask()[volumes[region]].float().mean().item() for region in ("missing", "distractor")}


def test_agents_learn_the_accepted_way_and_against_the_rejected_way_from_verdicts_alone():
    began = time.perf_counter()
    torch.manual_seed(0)
    start_policy = PolicyValueNet(channels=(8, 16, 32), strides=(2, 2))
    tuned = fine_tune_on_verdicts(start_policy, organ_and_distractor(8, seed=0), updates=50)
    unseen = organ_and_distractor(8, seed=100)
    before, after = expected_change(start_policy, unseen), expected_change(tuned, unseen)
    greedy_before, greedy_after = greedy_foreground(start_policy, unseen), greedy_foreground(tuned, unseen)
    print(f"E[dp] missing top {before['missing']:+.3f} -> {after['missing']:+.3f}, "
          f"distractor {before['distractor']:+.3f} -> {after['distractor']:+.3f}; in the mask after 2 greedy steps: "
          f"missing top {greedy_before['missing']:.2f} -> {greedy_after['missing']:.2f}, "
          f"distractor {greedy_before['distractor']:.2f} -> {greedy_after['distractor']:.2f} "
          f"({time.perf_counter() - began:.1f} s)")
    assert after["missing"] >= before["missing"] + 0.15  # the accepted way: raise the organ's missing top
    assert after["distractor"] <= before["distractor"] - 0.07  # against the rejected way: lower the distractor
    assert greedy_after["missing"] >= greedy_before["missing"] + 0.3
    assert greedy_after["distractor"] <= greedy_before["distractor"] + 0.05
