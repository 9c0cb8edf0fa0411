"""GPU check, one table: per-click latency at 128³ and 256³ and training throughput, at each precision.

What a clinician waits for after a click (``Refiner.refine`` with one new click on a cubic region, the
policy of ``configs/refiner_voxel.yaml`` in 64³ windows, random weights: they change neither time nor
memory) beside one MONAI UNet(16, 32, 64, 128) forward on the same region; and what training does per
second: one A2C update of the any-structure recipe's policy (16-32-64-128, 32³ patches, batch 4, K
interactions of one step) beside one supervised Dice+CE step of the same backbone on the same batch, as
patches per second. Each row at float32, bf16-mixed and (on CUDA) 16-mixed; peak GPU memory per row.

    python benchmarks/bench_gpu.py                      # on a CUDA machine, as it is
    python benchmarks/bench_gpu.py --device cpu --sizes 64 --repeats 1   # the same code on the CPU (tested)
"""

from __future__ import annotations

import argparse
import contextlib

import torch
from bench_click_latency import measure
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from timing import median_seconds

from medrl.agents.a2c import A2CConfig, compute_loss
from medrl.agents.policy import PolicyValueNet
from medrl.agents.rollout import rollout
from medrl.env.environment import RefinementEnv
from medrl.env.state import soft_start
from medrl.inference.refiner import PRECISIONS

CHANNELS = (16, 32, 64, 128)


def precisions(device: str) -> list[str]:
    """float32 and bf16 everywhere (where the device has bf16), float16 on CUDA."""
    names = ["32"]
    if device == "cpu" or torch.cuda.is_bf16_supported():
        names.append("bf16-mixed")
    if device == "cuda":
        names.append("16-mixed")
    return names


def spheres(batch: int, size: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, labels and shifted starting masks, (B, 1, size³) on ``device``."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(size, dtype=torch.float32)] * 3, indexing="ij"))
    label = ((grid - size / 2).pow(2).sum(0) <= (size / 4) ** 2).float()
    initial = ((grid - size / 2 - 2).pow(2).sum(0) <= (size / 4.5) ** 2).float()
    labels = label.expand(batch, 1, -1, -1, -1).clone().to(device)
    return labels + 0.3 * torch.randn_like(labels), labels, initial.expand(batch, 1, -1, -1, -1).clone().to(device)


def training_throughput(device: str, precision: str, batch: int, patch: int, interactions: int, repeats: int) -> dict:
    """Median seconds of one A2C update and one supervised step at ``precision``, and the A2C patches/s."""
    image, label, initial = spheres(batch, patch, device)
    dtype = PRECISIONS[precision]
    autocast = (lambda: torch.autocast(device, dtype=dtype)) if dtype is not None else contextlib.nullcontext
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)
    policy = PolicyValueNet(7, channels=CHANNELS, strides=(2,) * (len(CHANNELS) - 1)).to(device)
    supervised = UNet(3, 4, 2, CHANNELS, (2,) * (len(CHANNELS) - 1), num_res_units=0, norm="instance").to(device)
    optimizers = {"rl": torch.optim.Adam(policy.parameters(), 1e-3), "sl": torch.optim.Adam(supervised.parameters(), 1e-3)}
    dice_ce, config = DiceCELoss(to_onehot_y=True, softmax=True), A2CConfig(cloning_weight=0.1)

    def step(name: str, loss_of) -> None:
        with autocast():
            loss = loss_of()
        optimizers[name].zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizers[name])
        scaler.update()
        if device == "cuda":
            torch.cuda.synchronize()

    def episode() -> RefinementEnv:
        env = RefinementEnv()
        env.reset(image, soft_start(initial), label=label)
        return env

    def a2c_loss():
        return compute_loss(rollout(episode(), policy, interactions, 1), config).total

    def supervised_loss():
        env = episode()
        env.add_clicks()
        return dice_ce(supervised(env.state()).float(), label.long())

    medians = median_seconds({"a2c": lambda: step("rl", a2c_loss), "supervised": lambda: step("sl", supervised_loss)}, repeats)
    return {**medians, "patches_per_s": batch / medians["a2c"]}


def peak_memory_gb(device: str) -> str:
    if device != "cuda":
        return "-"
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return f"{peak:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="click regions' edges in voxels")
    parser.add_argument("--window", type=int, default=64, help="the policy's sliding-window edge")
    parser.add_argument("--batch", type=int, default=4, help="training patches per update")
    parser.add_argument("--patch", type=int, default=32, help="training patch edge")
    parser.add_argument("--interactions", type=int, default=5, help="K of a training episode (the recipe's)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here; run with --device cpu to try the benchmark on the CPU")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{name}; torch {torch.__version__}; median of {args.repeats}")
    print(f"{'what':<34}{'precision':>11}{'seconds':>10}{'reference':>11}{'ratio':>7}{'peak GB':>9}")
    for precision in precisions(args.device):
        for size in args.sizes:
            medians = measure(size, args.window, args.repeats, args.device, precision)
            print(f"{f'click on {size}³ (overlap 0.25)':<34}{precision:>11}{medians['0.25']:>10.3f}{medians['unet']:>11.3f}"
                  f"{medians['0.25'] / medians['unet']:>7.2f}{peak_memory_gb(args.device):>9}", flush=True)
        train = training_throughput(args.device, precision, args.batch, args.patch, args.interactions, args.repeats)
        print(f"{f'A2C update {args.batch}x{args.patch}³, K={args.interactions}':<34}{precision:>11}{train['a2c']:>10.3f}"
              f"{train['supervised']:>11.3f}{train['a2c'] / train['supervised']:>7.2f}{peak_memory_gb(args.device):>9}"
              f"   {train['patches_per_s']:.1f} patches/s", flush=True)
    print("reference: one UNet forward on the click's region; one supervised Dice+CE step on the training batch")


if __name__ == "__main__":
    main()
