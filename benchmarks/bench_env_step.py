"""Benchmark: one agent step (policy forward + action choice + environment step) vs one segmenter forward.

On a 1×128³ volume, without gradients, in the same process: the default ``PolicyValueNet`` (4 input
channels: image, probability, h+, h−) followed by the greedy action choice and
``RefinementEnv.step`` (actions, clipping, reward map, next state), beside one forward pass of MONAI
``UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128), strides=(2, 2, 2))``
— one input channel, as the initial segmenter sees a bare scan. Prints the median times of a few
repetitions and their ratio (target: ≤ 2).

Run:  python benchmarks/bench_env_step.py [--size 128] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from monai.networks.nets import UNet
from timing import median_seconds

from medrl.agents.policy import PolicyValueNet
from medrl.env.environment import RefinementEnv
from medrl.env.state import soft_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="edge of the cubic volume in voxels")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    shape = (1, 1, args.size, args.size, args.size)
    grid = torch.stack(torch.meshgrid(*[torch.arange(args.size, dtype=torch.float32)] * 3, indexing="ij"))
    label = ((grid - args.size / 2).pow(2).sum(0) <= (args.size / 4) ** 2).view(shape).float().to(device)
    initial = ((grid - args.size / 2 - 3).pow(2).sum(0) <= (args.size / 4.5) ** 2).view(shape).to(device)
    image = label + 0.3 * torch.randn(shape, device=device)

    policy = PolicyValueNet().to(device).eval()
    segmenter = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128), strides=(2, 2, 2))
    segmenter = segmenter.to(device).eval()
    env = RefinementEnv()
    state = [env.reset(image, soft_start(initial), label=label)]  # the agents' loop carries the state

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    @torch.no_grad()
    def agent_step() -> None:
        logits, _ = policy(state[0])
        state[0], _ = env.step(logits.max(dim=1).indices)  # greedy actions; max is faster than argmax on CPU
        sync()

    @torch.no_grad()
    def policy_forward_only() -> None:
        policy(state[0])
        sync()

    @torch.no_grad()
    def segmenter_forward() -> None:
        segmenter(image)
        sync()

    medians = median_seconds(
        {"step": agent_step, "policy": policy_forward_only, "segmenter": segmenter_forward}, args.repeats
    )
    step_time, policy_time, segmenter_time = medians["step"], medians["policy"], medians["segmenter"]
    print(f"volume 1x{args.size}^3 on {device} ({torch.get_num_threads()} threads), median of {args.repeats}")
    print(f"policy forward + env step : {step_time:.3f} s  (policy forward alone {policy_time:.3f} s)")
    print(f"MONAI UNet forward        : {segmenter_time:.3f} s  (1 input channel, channels (16,32,64,128))")
    print(f"ratio                     : {step_time / segmenter_time:.2f}  (target <= 2)")


if __name__ == "__main__":
    main()
