"""The DataModule: dataset lists -> cached, preprocessed cases -> patches (training) and whole cases (validation).

Training batches are dicts of (B, 1, x, y, z) patches: ``image`` (float32, normalised), ``label``
(uint8 {0, 1}) and ``initial`` (uint8 {0, 1}: the case's own ``initial`` mask when its dataset gives
one, else a fresh seeded perturbation of the label each time the case is drawn). Validation and test
batches hold one whole preprocessed case each, with a perturbation that is the same every epoch.
Under DDP, Lightning shards every loader with a ``DistributedSampler``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import pytorch_lightning as pl
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import Compose, EnsureTyped, RandCropByPosNegLabeld, SpatialPadd

from medrl.data.datasets import load_dataset
from medrl.data.label_transforms import PerturbLabeld, SelectForegroundd
from medrl.data.loading import LoadScand
from medrl.data.perturbation import PerturbationConfig
from medrl.data.transforms import Preprocessing, preprocessing_transform
from medrl.errors import MedrlInputError

logger = logging.getLogger("medrl")
CASE_KEYS = ("image", "label", "initial")


class MedrlDataModule(pl.LightningDataModule):
    """Cases of one dataset, preprocessed for the segmenter and the refinement agents.

    Args:
        dataset: ``dataset.json``, an ``imagesTr/labelsTr`` folder, or a CSV (see
            :func:`medrl.data.datasets.load_dataset`).
        foreground_labels: label values that make the foreground (e.g. ``[1]`` for the spleen of a
            multi-organ map); ``None`` = every non-zero value.
        spacing: target voxel size in mm on the RAS grid; ``None`` keeps each scan's own.
        intensity: intensity preset, ``"ct"``, ``"mr"`` or ``"none"``.
        ct_window: HU window of the CT preset.
        mr_percentiles: percentiles of the MR preset.
        crop_foreground: crop each case to its body (intensity > 0 after scaling).
        patch_size: training patch size in voxels (x, y, z).
        patches_per_case: patches drawn from each case per visit (half centred on foreground).
        batch_size: training cases per batch (each brings ``patches_per_case`` patches).
        num_workers: data loader worker processes.
        cache: keep preprocessed cases in memory (MONAI ``CacheDataset``).
        validation_fraction: share of training cases held out when the dataset has no ``validation`` list.
        max_validation_cases: validate on at most this many cases (``None``: all).
        perturbation_dice: target Dice range of the perturbed initial masks.
        seed: seed of the train/validation split, patch sampling and perturbations.
        demo_data: if ``dataset`` does not exist yet, write medrl's synthetic demo dataset there first.
        demo_cases: (train, validation, test) case counts of that demo dataset.
    """

    def __init__(
        self,
        dataset: str,
        foreground_labels: Optional[list[int]] = None,
        spacing: Optional[tuple[float, float, float]] = None,
        intensity: str = "ct",
        ct_window: tuple[float, float] = (-175.0, 250.0),
        mr_percentiles: tuple[float, float] = (0.5, 99.5),
        crop_foreground: bool = False,
        patch_size: tuple[int, int, int] = (32, 32, 32),
        patches_per_case: int = 2,
        batch_size: int = 2,
        num_workers: int = 0,
        cache: bool = True,
        validation_fraction: float = 0.2,
        max_validation_cases: Optional[int] = None,
        perturbation_dice: tuple[float, float] = (0.6, 0.85),
        seed: int = 0,
        demo_data: bool = False,
        demo_cases: tuple[int, int, int] = (16, 4, 4),
    ):
        super().__init__()
        self.save_hyperparameters()
        self.preprocessing = Preprocessing(
            spacing=None if spacing is None else tuple(float(s) for s in spacing),
            intensity=intensity, ct_window=tuple(ct_window), mr_percentiles=tuple(mr_percentiles),
            crop_foreground=crop_foreground,
        )
        self.perturbation = PerturbationConfig(target_dice=tuple(perturbation_dice))
        self.cases: dict[str, list[dict]] = {}

    # ------------------------------------------------------------------------------- preparing
    def prepare_data(self) -> None:
        """Write the demo dataset on first use (on one process per node; Lightning calls it there)."""
        if self.hparams.demo_data and not Path(self.hparams.dataset).exists():
            from medrl.data.synthetic import write_synthetic_dataset

            train, val, test = self.hparams.demo_cases
            folder = Path(self.hparams.dataset)
            folder = folder.parent if folder.suffix == ".json" else folder
            logger.warning("writing the synthetic demo dataset to %s", folder)
            write_synthetic_dataset(folder, n_train=train, n_val=val, n_test=test, seed=self.hparams.seed)

    def setup(self, stage: Optional[str] = None) -> None:
        training = load_dataset(self.hparams.dataset, "training")
        validation = load_dataset(self.hparams.dataset, "validation")
        if not validation:
            training, validation = self._split(training)
        if not training:
            raise MedrlInputError(self.hparams.dataset, "dataset has no training cases")
        limit = self.hparams.max_validation_cases
        self.cases = {
            "training": training,
            "validation": validation[:limit] if limit else validation,
            "test": load_dataset(self.hparams.dataset, "test"),
        }

    def _split(self, cases: list[dict]) -> tuple[list[dict], list[dict]]:
        order = np.random.default_rng(self.hparams.seed).permutation(len(cases))
        n_val = int(round(len(cases) * self.hparams.validation_fraction)) if len(cases) > 1 else 0
        return [cases[i] for i in order[n_val:]], [cases[i] for i in order[:n_val]]

    # ------------------------------------------------------------------------------ transforms
    def case_transform(self) -> Compose:
        """Deterministic part: read, check pairs, preprocess, binarise (cached)."""
        return Compose([
            LoadScand(CASE_KEYS),
            preprocessing_transform(self.preprocessing, "image", ("label", "initial")),
            SelectForegroundd("label", self.hparams.foreground_labels),
            SelectForegroundd("initial"),
        ])

    def train_transform(self) -> Compose:
        patch = tuple(self.hparams.patch_size)
        keys = list(CASE_KEYS)
        return Compose([
            PerturbLabeld(config=self.perturbation),
            SpatialPadd(keys, spatial_size=patch),
            RandCropByPosNegLabeld(keys, label_key="label", spatial_size=patch, pos=1, neg=1,
                                   num_samples=self.hparams.patches_per_case, allow_smaller=False),
            EnsureTyped(keys, track_meta=True),
        ]).set_random_state(seed=self.hparams.seed)

    def eval_transform(self) -> Compose:
        return Compose([PerturbLabeld(config=self.perturbation), EnsureTyped(list(CASE_KEYS), track_meta=True)])

    # ----------------------------------------------------------------------------- data loaders
    def _dataset(self, cases: list[dict], random_part: Compose, seed_offset: int) -> Dataset:
        cases = [{**c, "perturbation_seed": self.hparams.seed + seed_offset + i} if seed_offset else dict(c) for i, c in enumerate(cases)]
        cases = [{k: v for k, v in c.items() if v is not None} for c in cases]
        cached = CacheDataset(cases, self.case_transform(), cache_rate=1.0 if self.hparams.cache else 0.0,
                              num_workers=None, progress=False, copy_cache=False)
        return Dataset(cached, random_part)

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset(self.cases["training"], self.train_transform(), seed_offset=0)
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=True, num_workers=self.hparams.num_workers,
                          drop_last=False, persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset(self.cases["validation"], self.eval_transform(), 10_000), batch_size=1,
                          num_workers=self.hparams.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset(self.cases["test"], self.eval_transform(), 20_000), batch_size=1,
                          num_workers=self.hparams.num_workers)

    def preprocessing_record(self) -> dict:
        """Plain-typed settings inference needs to reproduce this preprocessing (saved in checkpoints)."""
        p = self.preprocessing
        return {
            "spacing": None if p.spacing is None else list(p.spacing),
            "intensity": p.intensity, "ct_window": list(p.ct_window), "mr_percentiles": list(p.mr_percentiles),
            "crop_foreground": p.crop_foreground, "crop_margin": p.crop_margin,
            "foreground_labels": self.hparams.foreground_labels,
        }
