"""How much of the truth training sees: full labels, sparse clinician marks only, or noisy labels.

The regimes of the comparison between medrl's agents and supervised refinement:

- ``full``: the dataset's labels, as they are.
- ``sparse``: no scan keeps its label. A simulated clinician marks a fixed starting mask of each scan
  (the case's ``initial`` mask, or a seeded perturbation of the label): brush dabs and clicks on the
  largest errors, and confirming dabs on correct organ and nearby background
  (:func:`medrl.env.simulated_corrections.simulate_corrections`). Training sees the starting mask and
  these marks (``corrections``) only — the agents through the reward override, a supervised network
  through a partial loss on the marked voxels.
- ``noisy``: each label is replaced by a seeded, imperfect copy — eroded or dilated and shifted by up
  to ``noise_mm`` — as a hurried annotator would draw it; evaluation still uses the true labels.

Applied to training cases only, once per case (seeded by the case), in the cached part of the data
pipeline; validation and test cases keep their true labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping

import numpy as np
import torch
from monai.transforms import MapTransform

from medrl.data.geometry import voxel_spacing
from medrl.data.perturbation import PerturbationConfig, perturb_mask
from medrl.env.simulated_corrections import simulate_corrections

REGIMES = ("full", "sparse", "noisy")
UNMARKED = ("unknown", "start")


@dataclass
class LabelRegime:
    """Settings of a label regime (see the module docstring).

    Attributes:
        kind: ``"full"``, ``"sparse"`` or ``"noisy"``.
        sparse_strokes: brush dabs on errors of the starting mask, per scan.
        sparse_clicks: single-voxel clicks on errors after the dabs, per scan.
        sparse_confirm: confirming dabs on correct voxels (organ and nearby background), per scan.
        sparse_brush_mm: the simulated brush's largest radius in mm.
        start_dice: Dice range of the seeded starting masks of the sparse regime (cases without ``initial``).
        noise_mm: largest erosion/dilation and shift in mm of the noisy regime.
        sparse_unmarked: what the sparse regime says about the voxels the clinician left unmarked:
            ``"unknown"`` (no target there: the marks alone teach) or ``"start"`` (the starting mask,
            which the clinician reviewed and left as it is, is their label; the marks override it).
        seed: seeds every case's simulation (with the case's index).
    """

    kind: str = "full"
    sparse_strokes: int = 3
    sparse_clicks: int = 5
    sparse_confirm: int = 2
    sparse_brush_mm: float = 4.0
    start_dice: tuple[float, float] = (0.6, 0.85)
    noise_mm: float = 3.0
    sparse_unmarked: str = "unknown"
    seed: int = 0

    def __post_init__(self):
        if self.kind not in REGIMES:
            raise ValueError(f"label regime must be one of {REGIMES}, got {self.kind!r}")
        if self.sparse_unmarked not in UNMARKED:
            raise ValueError(f"sparse_unmarked must be one of {UNMARKED}, got {self.sparse_unmarked!r}")


def noisy_label(label: np.ndarray, spacing, noise_mm: float, seed: int) -> np.ndarray:
    """(X, Y, Z) uint8: ``label`` eroded or dilated by up to ``noise_mm`` and shifted by up to ``noise_mm``
    per axis (seeded), with no holes, chunks or blobs."""
    config = PerturbationConfig(p_morph=1.0, morph_mm=(noise_mm / 2, noise_mm), p_holes=0.0, p_chunk=0.0, p_blobs=0.0,
                                p_shift=1.0, shift_mm=(0.0, noise_mm), target_dice=(0.0, 1.0), max_tries=1)
    return perturb_mask(label, spacing, seed, config)[0]


class ApplyLabelRegimed(MapTransform):
    """Turn a preprocessed training case (``image``, binary ``label``, optional ``initial``) into what
    its regime lets training see; the case's ``regime_seed`` seeds it (default: the regime's seed).

    ``sparse``: ``initial`` (fixed), ``corrections`` (uint8 0/1/2) and no ``label`` (``has_label``
    False, ``from_review`` True: a simulated review); with ``sparse_unmarked="start"`` the starting mask
    is the ``label`` (``has_label`` True) and the marks override it. ``noisy``: a noisy ``label``. ``full``: unchanged.
    """

    def __init__(self, regime: LabelRegime):
        super().__init__(["label"])
        self.regime = regime

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result, regime = dict(data), self.regime
        if regime.kind == "full" or result.get("label") is None or result.get("from_review"):
            return result  # nothing to hide, or a clinician's review, which keeps what the clinician marked
        label = result["label"]
        truth = label[0].cpu().numpy() > 0
        spacing = voxel_spacing(np.asarray(label.affine))
        seed = int(result.get("regime_seed", regime.seed))
        if regime.kind == "noisy":
            result["label"] = _like(label, noisy_label(truth, spacing, regime.noise_mm, seed))
            return result
        start = result.get("initial")
        if start is None:
            start = _like(label, perturb_mask(truth, spacing, seed, PerturbationConfig(target_dice=tuple(regime.start_dice)))[0])
        marks = simulate_corrections(start[0].cpu().numpy() > 0, truth, spacing, regime.sparse_strokes, regime.sparse_clicks,
                                     regime.sparse_brush_mm, seed, n_confirm=regime.sparse_confirm)
        # a simulated review of the starting mask: its marks fit that mask only, so it is never swapped for the segmenter's
        result.update(initial=start, corrections=_like(label, marks), from_review=True)
        if regime.sparse_unmarked == "start":  # the reviewed mask is the label; the marks override it where given
            result.update(label=_like(label, start[0].cpu().numpy() > 0), has_label=True)
        else:
            result.update(label=None, has_label=False)
        return result


def _like(reference: torch.Tensor, array: np.ndarray) -> torch.Tensor:
    """``array`` (X, Y, Z) as a (1, X, Y, Z) uint8 copy of ``reference`` (a MetaTensor keeps its geometry)."""
    out = reference.clone().to(torch.uint8)
    out[0] = torch.from_numpy(np.asarray(array, dtype=np.uint8))
    return out
