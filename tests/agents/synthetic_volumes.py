"""Small seeded synthetic volumes for the agents' tests, independent of ``medrl.data``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class SyntheticBatch:
    """B volumes (B, 1, S, S, S): a noisy image of an ellipsoid, its label, a perturbed starting mask."""

    image: torch.Tensor  # float32, foreground ≈ 1, background ≈ 0, Gaussian noise
    label: torch.Tensor  # float32 {0, 1}
    initial: torch.Tensor  # bool: the label's ellipsoid shifted and rescaled (Dice ≈ 0.7)


def ellipsoid(size: int, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(size, size, size) bool mask of the axis-aligned ellipsoid with this centre and these radii (voxels)."""
    grid = np.indices((size, size, size), dtype=np.float32)
    return (((grid - centre.reshape(3, 1, 1, 1)) / radii.reshape(3, 1, 1, 1)) ** 2).sum(0) <= 1.0


def synthetic_batch(batch: int, size: int, seed: int, noise: float = 0.3) -> SyntheticBatch:
    """Seeded ellipsoids with radii 0.2–0.33·size near the centre; the starting mask's centre moves by
    up to 0.1·size per axis and its radii scale by 0.8–1.2."""
    rng = np.random.default_rng(seed)
    images, labels, initials = [], [], []
    for _ in range(batch):
        centre, radii = rng.uniform(0.4, 0.6, 3) * size, rng.uniform(0.2, 0.33, 3) * size
        label = ellipsoid(size, centre, radii)
        initials.append(ellipsoid(size, centre + rng.uniform(-0.1, 0.1, 3) * size, radii * rng.uniform(0.8, 1.2, 3)))
        labels.append(label)
        images.append(label + rng.normal(0.0, noise, label.shape))
    return SyntheticBatch(_as_batch(images).float(), _as_batch(labels).float(), _as_batch(initials))


def _as_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """B arrays (S, S, S) -> tensor (B, 1, S, S, S)."""
    return torch.from_numpy(np.stack(arrays)).unsqueeze(1)
