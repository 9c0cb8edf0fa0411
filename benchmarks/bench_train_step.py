"""Benchmark: one refinement (A2C) training step vs one supervised step of the same backbone, same batch.

Both networks are MONAI ``UNet``s with the same channels, 4 input channels (image, probability, h+, h−)
and the same batch of B patches:
- supervised step: forward, Dice + CE loss on the label, backward, Adam step (DeepEdit-style click
  network: the loss is on the truth, no environment);
- refinement step: an episode of K interactions x S steps (robot clicks, policy forward, sampled
  actions, environment step and reward at each), then the A2C loss, backward and Adam step.
Prints medians and ratios for K = 1 (one agent step per update: the like-for-like comparison), for K = 1
with the last state terminal (``A2CConfig.bootstrap`` False: no forward pass for V(s⁽ᵀ⁾)), and for the
training default K (the cost of one whole episode per update).

Run:  python benchmarks/bench_train_step.py [--patch 32] [--batch 4] [--interactions 3] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from timing import median_seconds

from medrl.agents.a2c import A2CConfig, compute_loss
from medrl.agents.policy import PolicyValueNet
from medrl.agents.rollout import rollout
from medrl.env.environment import RefinementEnv
from medrl.env.state import soft_start


def batch_of_spheres(batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, labels and shifted starting masks, (B, 1, size, size, size)."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(size, dtype=torch.float32)] * 3, indexing="ij"))
    label = ((grid - size / 2).pow(2).sum(0) <= (size / 4) ** 2).float()
    initial = ((grid - size / 2 - 2).pow(2).sum(0) <= (size / 4.5) ** 2).float()
    labels, initials = label.expand(batch, 1, -1, -1, -1).clone(), initial.expand(batch, 1, -1, -1, -1).clone()
    return labels + 0.3 * torch.randn_like(labels), labels, initials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=int, default=32, help="patch edge in voxels")
    parser.add_argument("--batch", type=int, default=4, help="patches per step")
    parser.add_argument("--interactions", type=int, default=3, help="K of a training episode")
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16, 32, 64], help="UNet channels")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    strides = (2,) * (len(args.channels) - 1)
    image, label, initial = batch_of_spheres(args.batch, args.patch)

    supervised = UNet(3, 4, 2, tuple(args.channels), strides, num_res_units=0, norm="instance")
    supervised_optimizer = torch.optim.Adam(supervised.parameters(), 1e-3)
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
    policy = PolicyValueNet(7, channels=tuple(args.channels), strides=strides)
    policy_optimizer = torch.optim.Adam(policy.parameters(), 1e-3)
    config = A2CConfig(cloning_weight=0.1)
    terminal = A2CConfig(cloning_weight=0.1, bootstrap=False)

    def supervised_step() -> None:
        env = RefinementEnv()
        env.reset(image, soft_start(initial), label=label)
        env.add_clicks()  # the same inputs the click network would see
        loss = dice_ce(supervised(env.state()), label.long())
        supervised_optimizer.zero_grad()
        loss.backward()
        supervised_optimizer.step()

    def refinement_step(interactions: int, settings: A2CConfig = config) -> None:
        env = RefinementEnv()
        env.reset(image, soft_start(initial), label=label)
        terms = compute_loss(rollout(env, policy, interactions, 1, bootstrap=settings.bootstrap), settings)
        policy_optimizer.zero_grad()
        terms.total.backward()
        policy_optimizer.step()

    medians = median_seconds({
        "supervised": supervised_step,
        "rl_1": lambda: refinement_step(1),
        "rl_1_terminal": lambda: refinement_step(1, terminal),
        f"rl_{args.interactions}": lambda: refinement_step(args.interactions),
    }, args.repeats)
    base = medians["supervised"]
    print(f"batch {args.batch}x{args.patch}^3, UNet channels {tuple(args.channels)}, {torch.get_num_threads()} CPU threads, "
          f"median of {args.repeats}")
    print(f"supervised step (Dice+CE)              : {base:.3f} s")
    print(f"refinement step, K=1 (one agent step)  : {medians['rl_1']:.3f} s   ratio {medians['rl_1'] / base:.2f}  (target <= 1.5)")
    print(f"  the same, last state terminal         : {medians['rl_1_terminal']:.3f} s   ratio "
          f"{medians['rl_1_terminal'] / base:.2f}")
    k = args.interactions
    print(f"refinement step, K={k} (whole episode)  : {medians[f'rl_{k}']:.3f} s   ratio {medians[f'rl_{k}'] / base:.2f}"
          f"  ({medians[f'rl_{k}'] / base / k:.2f} per interaction)")


if __name__ == "__main__":
    main()
