"""Latency of one click-refinement on 64³, 128³ and 256³ regions, beside one MONAI UNet forward on the same input.

A click-refinement is what a clinician waits for after clicking: ``Refiner.refine`` with one new
click — environment set-up (soft start, hint maps of all clicks, the click's label), the agents'
greedy step(s) with the policy in sliding windows, the clicked voxels fixed, the result stitched
back. Two kinds of agents, both with UNet channels 16-32-64-128 and S = 1 step:

- ``recipe``: ``configs/agents_any_structure.yaml`` (32³ windows, its inference zone: 10 mm one way, a negative
  click's shrinking to 1.5 × its depth, a positive click's far from the mask widening up to 20 mm): the policy runs
  on the zone's box and its halo only;
- ``demo``: ``configs/refiner_voxel.yaml`` (64³ windows, no zone): the policy runs on the box the
  click's hint can reach, ± half a window.

The reference is one forward pass of MONAI ``UNet(channels=(16, 32, 64, 128), strides=(2, 2, 2))`` on
the whole region (one input channel, two outputs). Weights are random: they change neither time nor
memory. Prints a table of medians and ratios.

Run:  python benchmarks/bench_click_latency.py [--sizes 64 128 256] [--agents recipe demo] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from monai.data import MetaTensor
from monai.networks.nets import UNet
from timing import median_seconds

from medrl.env.clicks import Click
from medrl.inference.refiner import Refiner
from medrl.training.agents import AgentsModule

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "agents_any_structure.yaml"
RECIPE_ZONE = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))["model"]["init_args"]["inference_env"]
AGENTS = {"recipe": (32, RECIPE_ZONE), "demo": (64, None)}  # window edge, inference zone


def refiner_voxel_checkpoint(window: int, inference_env: dict | None = None) -> dict:
    """A checkpoint dict of per-voxel agents (random weights) in ``window``³ windows, with ``inference_env``
    (e.g. an action zone), without resampling."""
    module = AgentsModule(policy_channels=(16, 32, 64, 128), policy_strides=(2, 2, 2), roi_size=(window,) * 3,
                          inference_env=inference_env)
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    checkpoint["medrl"]["preprocessing"] = {"spacing": None, "intensity": "none"}
    return checkpoint


def measure(size: int, window: int, repeats: int, device: str, precision: str = "32",
            inference_env: dict | None = None) -> dict[str, float]:
    """Median seconds of a click-refinement (overlap 0.25 and 0) and of a UNet forward on a size³ region, the
    networks at ``precision`` (``"32"``, ``"bf16-mixed"``, ``"16-mixed"``; the UNet under the same autocast),
    the agents with ``inference_env`` (:data:`AGENTS`)."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(size, dtype=torch.float32)] * 3, indexing="ij"))
    label = (grid - size / 2).pow(2).sum(0) <= (size / 4) ** 2
    initial = ((grid - size / 2 - 3).pow(2).sum(0) <= (size / 4.5) ** 2).to(torch.uint8)
    image = MetaTensor((label.float() + 0.3 * torch.randn(size, size, size))[None], affine=torch.eye(4, dtype=torch.float64))

    checkpoint = refiner_voxel_checkpoint(window, inference_env)
    refiners = {overlap: Refiner(checkpoint, device=device, window_overlap=overlap, precision=precision) for overlap in (0.25, 0.0)}
    case = refiners[0.25].prepare(image)
    click = Click((size // 2, size // 2, size // 2 + size // 4 - 1), positive=True)
    unet = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128), strides=(2, 2, 2)).to(device).eval()
    scan = case["image"].as_tensor()[None].to(device)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def click_refinement(overlap: float):
        def run() -> None:
            refiners[overlap].refine(case, initial, [click])
            sync()
        return run

    @torch.no_grad()
    def unet_forward() -> None:
        with refiners[0.0].autocast():
            unet(scan)
        sync()

    return median_seconds({"0.25": click_refinement(0.25), "0.0": click_refinement(0.0), "unet": unet_forward}, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], help="edges of the cubic regions in voxels")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--agents", nargs="+", choices=sorted(AGENTS), default=["recipe", "demo"],
                        help="which agents: the any-structure recipe's (32³ windows, action zone) and the demo's (64³, no zone)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{device}, {torch.get_num_threads()} threads, median of {args.repeats}; UNet (16,32,64,128) forward for reference")
    print(f"{'agents':>14}  {'region':>7}  {'UNet forward':>12}  {'click, overlap 0.25':>20}  {'ratio':>6}  "
          f"{'click, overlap 0':>17}  {'ratio':>6}")
    for agents in args.agents:
        window, zone = AGENTS[agents]
        for size in args.sizes:
            medians = measure(size, window, args.repeats, device, inference_env=zone)
            unet = medians["unet"]
            print(f"{agents + f' ({window}³)':>14}  {size:>6}³  {unet:>10.3f} s  {medians['0.25']:>18.3f} s  "
                  f"{medians['0.25'] / unet:>6.2f}  {medians['0.0']:>15.3f} s  {medians['0.0'] / unet:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
