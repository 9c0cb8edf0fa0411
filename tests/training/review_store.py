"""A feedback store with clinicians' reviews of small synthetic scans, made without the notebook:
each review started from a mask that misses the organ's top slab, and the clinician painted it back.
Verdicts (:func:`verdict_store`) judge refinements from that same start: one that raised the missing
slab was accepted, one that raised a corner of background was rejected."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medrl.data.geometry import orientation_affine
from medrl.feedback.store import FeedbackStore
from tests.conftest import save_nifti

SHAPE = (24, 24, 20)


def reviewed_scan(folder: Path, seed: int, orientation: str = "LPS") -> tuple[Path, dict, np.ndarray]:
    """Write one scan; return its path, the review's masks (X, Y, Z) uint8 and the scan's affine.

    The organ is a bright box; ``before`` misses its top 3 slices (z), the corrections mark those
    foreground (2) and one background voxel (1); ``accepted`` is the whole box.
    """
    rng = np.random.default_rng(seed)
    label = np.zeros(SHAPE, np.uint8)
    label[6:18, 6:18, 5:15] = 1
    image = (rng.normal(0, 10, SHAPE) + 100 * label).astype(np.float32)
    affine = orientation_affine(orientation, (1.0, 1.0, 1.5), SHAPE)
    scan = save_nifti(image, affine, folder / f"scan_{seed}.nii.gz")
    before = label.copy()
    before[:, :, 12:15] = 0
    corrections = np.zeros(SHAPE, np.uint8)
    corrections[6:18, 6:18, 12:15] = 2
    corrections[2, 2, 2] = 1
    return scan, {"accepted": label, "before": before, "corrections": corrections}, affine


def review_store(folder: Path, n_scans: int = 2) -> tuple[Path, list[Path]]:
    """A store with ``n_scans`` reviews; returns the store folder and the scans."""
    store = FeedbackStore(folder / "store")
    scans = []
    for seed in range(n_scans):
        scan, masks, affine = reviewed_scan(folder, seed)
        store.add_review(scan, "dr_a", masks, affine, [{"position": [0.0, 0.0, 0.0], "positive": True, "radius_mm": 3.0}])
        scans.append(scan)
    return store.folder, scans



def judged_direction(verdict: int) -> np.ndarray:
    """The direction map of a judged refinement of a :func:`reviewed_scan` scan, which started from its
    ``before`` mask (the box without its top slab): an accepted one (+1) raised the missing slab, a
    rejected one (−1) raised a 4³ corner of background."""
    direction = np.zeros(SHAPE, np.uint8)
    if verdict > 0:
        direction[6:18, 6:18, 12:15] = 2
    else:
        direction[1:5, 1:5, 1:5] = 2
    return direction


def verdict_store(folder: Path, verdicts=(1, -1), with_reviews: bool = False) -> tuple[Path, list[Path]]:
    """A store with one verdict per entry of ``verdicts`` (each on its own scan, no clinician marks), and,
    if asked, a review of each scan too; returns the store folder and the scans."""
    store = FeedbackStore(folder / "store")
    scans = []
    for seed, verdict in enumerate(verdicts):
        scan, masks, affine = reviewed_scan(folder, seed)
        judged = {"before": masks["before"], "direction": judged_direction(verdict)}
        store.add_verdict(scan, "dr_a", verdict, judged, affine, [], session_id=f"s{seed}")
        if with_reviews:
            store.add_review(scan, "dr_a", masks, affine, [])
        scans.append(scan)
    return store.folder, scans
