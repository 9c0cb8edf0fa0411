"""The DataModule: dataset lists -> cached, preprocessed cases -> patches (training) and whole cases (validation).

Training batches are dicts of (B, 1, x, y, z) patches: ``image`` (float32, normalised), ``label``
(uint8 {0, 1}), ``initial`` (uint8 {0, 1}: the case's own ``initial`` mask when its dataset gives
one, else a fresh seeded perturbation of the label each time the case is drawn) and ``corrections``
(uint8: 0 untouched, 1 / 2 marked background / foreground by a clinician), with per-patch flags
``has_label`` and ``from_review`` (B,) bool.

Clinicians' reviews join the training cases when ``feedback`` names a feedback store (see
:mod:`medrl.feedback.cases`): each starts from the mask the clinician started from, and its
corrections override the reward's target; a reviewed scan without a label trains from its
corrections alone (its ``label`` is zeros and ``has_label`` False). With ``feedback_verdicts``, the
store's verdicts on refinements join too: a batch then also holds ``verdict_direction`` (B, 1, x, y, z)
uint8 (0 unchanged, 1 lowered, 2 raised by the judged refinement; zeros for other cases) and
``verdict`` (B,) float (+1 accepted, −1 rejected, 0 for other cases). Validation and test batches hold
one whole preprocessed dataset case each, with a perturbation that is the same every epoch.
Under DDP, Lightning shards every loader with a ``DistributedSampler``.

Structure-agnostic training (``tasks="labels"``, :mod:`medrl.data.tasks`): every label value of a case's
label map with at least ``min_task_voxels`` voxels (and, with ``union_task``, the union of all its labels)
is its own binary task. Each visit of a training case draws one of its tasks and crops the case around
that structure; each validation case always gets the same task (seeded) and is validated in its box.
Several datasets (``dataset`` a list), of any modalities, train together; ``balance_datasets`` lets each
dataset contribute as many visits per epoch as the largest.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pytorch_lightning as pl
import torch
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import Compose, EnsureTyped, RandCropByPosNegLabeld, SelectItemsd, SpatialPadd
from torch.utils.data import RandomSampler, Subset

from medrl.data.datasets import load_datasets
from medrl.data.label_transforms import (
    ClassIndicesd,
    CropFocusd,
    PerturbLabeld,
    SelectForegroundd,
    TrainingTargetsd,
    TrustNearMarksd,
)
from medrl.data.loading import LoadScand
from medrl.data.perturbation import PerturbationConfig
from medrl.data.tasks import ListTasksd, SampleTaskd
from medrl.data.transforms import Preprocessing, preprocessing_transform
from medrl.errors import MedrlInputError
from medrl.feedback.cases import DEFAULT_FEEDBACK_TARGET, review_cases, verdict_cases
from medrl.training.label_regimes import ApplyLabelRegimed, LabelRegime

logger = logging.getLogger("medrl")
CASE_KEYS = ("image", "label", "initial")
"""Volumes of a validation or test case."""
TASK_MODES = ("foreground", "labels")
TRAINING_KEYS = ("image", "label", "initial", "corrections")
"""Volumes of a training patch (a review's accepted mask, when trained on, arrives as ``label``)."""
REVIEW_KEYS = ("corrections", "accepted", "verdict_direction")
VERDICT_KEYS = ("verdict_direction",)
TASK_MARGIN_VOXELS = 4
"""Voxels kept around a task's structure beyond half a patch when its case is cropped to it."""
"""Volumes a training patch gains with ``feedback_verdicts``."""


class MedrlDataModule(pl.LightningDataModule):
    """Cases of one dataset, preprocessed for the segmenter and the refinement agents.

    Args:
        dataset: ``dataset.json``, an ``imagesTr/labelsTr`` folder, or a CSV (see
            :func:`medrl.data.datasets.load_dataset`), or a list of them (their cases concatenated);
            ``None`` trains on ``feedback`` alone.
        foreground_labels: label values that make the foreground (e.g. ``[1]`` for the spleen of a
            multi-organ map); ``None`` = every non-zero value.
        spacing: target voxel size in mm on the RAS grid; ``None`` keeps each scan's own.
        intensity: intensity preset, ``"ct"``, ``"mr"``, ``"auto"`` (per scan, by its ``modality`` key or
            its dataset's, else by its intensities; :mod:`medrl.data.intensity`) or ``"none"``.
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
        perturbation_dice: target Dice range of the perturbed starting masks.
        seed: seed of the train/validation split, patch sampling and perturbations.
        demo_data: if ``dataset`` does not exist yet, write medrl's synthetic demo dataset there first.
        demo_cases: (train, validation, test) case counts of that demo dataset.
        feedback: a feedback store folder: its accepted reviews join the training cases.
        feedback_target: ``"near_marks"`` (the default: the accepted mask trusted within
            ``feedback_trust_mm`` of the clinician's marks), ``"corrections"`` (only clinician-marked
            voxels, plus the dataset label of a reviewed scan that is a labelled training case) or
            ``"accepted"`` (the accepted mask as the label); see :mod:`medrl.feedback.cases`.
        feedback_trust_mm: with ``feedback_target="near_marks"``, how far from a mark the accepted mask is a target.
        feedback_repeats: each review appears this many times per epoch (weighs feedback against
            the dataset's cases).
        feedback_check_hash: refuse reviews whose scan changed since (re-reads every reviewed scan).
        feedback_verdicts: also train on the store's verdicts (clinicians' accepted and rejected
            refinements, the accept/reject reward of :mod:`medrl.env.rewards.verdict`); needs ``feedback``.
        label_regime: how much of the truth the training cases show (:class:`LabelRegime`: ``full``,
            ``sparse`` clinician marks only, or ``noisy`` labels); validation and test keep true labels.
        tasks: ``"foreground"`` (one task per case: ``foreground_labels``, or every non-zero label) or
            ``"labels"`` (every label value its own task, drawn at each visit; see :mod:`medrl.data.tasks`).
        min_task_voxels: with ``tasks="labels"``, label values with fewer voxels (on the working grid) are no task.
        union_task: with ``tasks="labels"``, the union of a case's labels is a task too (e.g. a whole tumour).
        balance_datasets: with several datasets, repeat the cases of the smaller ones so that every
            dataset is visited about as often as the largest in an epoch.
        label_classes: for a multi-class segmenter: the label values of each class (``[[47], [48]]``); labels
            become class indices 0..K (:func:`medrl.data.label_transforms.class_indices`) and no starting
            masks are drawn. ``None``: binary foreground.
        visits_per_epoch: training case visits per epoch, taken each epoch from fresh shuffles of the
            (balanced) case list, so that every case is visited, equally often on average, also when an
            epoch is shorter than the list; ``None``: each case once (or as balanced) per
            epoch. Long epochs save the loaders' restarts when a dataset has few cases.
    """

    def __init__(
        self,
        dataset: Optional[Union[str, list[str]]] = None,
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
        feedback: Optional[str] = None,
        feedback_target: str = DEFAULT_FEEDBACK_TARGET,
        feedback_trust_mm: float = 10.0,
        feedback_repeats: int = 1,
        feedback_check_hash: bool = True,
        feedback_verdicts: bool = False,
        label_regime: Optional[LabelRegime] = None,
        tasks: str = "foreground",
        min_task_voxels: int = 200,
        union_task: bool = True,
        balance_datasets: bool = False,
        visits_per_epoch: Optional[int] = None,
        label_classes: Optional[list[list[int]]] = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["label_regime"])
        self.preprocessing = Preprocessing(
            spacing=None if spacing is None else tuple(float(s) for s in spacing),
            intensity=intensity, ct_window=tuple(ct_window), mr_percentiles=tuple(mr_percentiles),
            crop_foreground=crop_foreground,
        )
        self.perturbation = PerturbationConfig(target_dice=tuple(perturbation_dice))
        self.label_regime = label_regime or LabelRegime(seed=seed)
        if tasks not in TASK_MODES:
            raise MedrlInputError("data.tasks", f"must be one of {', '.join(TASK_MODES)}, got {tasks!r}")
        if tasks == "labels" and (self.label_regime.kind != "full" or foreground_labels is not None):
            raise MedrlInputError("data.tasks", "tasks=labels draws every label as its own task: it takes neither "
                                  "foreground_labels nor a label regime other than full")
        self.hparams["label_regime"] = dataclasses.asdict(self.label_regime)  # plain types: checkpoints load weights-only
        self.cases: dict[str, list[dict]] = {}

    # ------------------------------------------------------------------------------- preparing
    def prepare_data(self) -> None:
        """Write the demo dataset on first use (on one process per node; Lightning calls it there)."""
        if self.hparams.demo_data and isinstance(self.hparams.dataset, str) and not Path(self.hparams.dataset).exists():
            from medrl.data.synthetic import write_synthetic_dataset

            train, val, test = self.hparams.demo_cases
            folder = Path(self.hparams.dataset)
            folder = folder.parent if folder.suffix == ".json" else folder
            logger.warning("writing the synthetic demo dataset to %s", folder)
            write_synthetic_dataset(folder, n_train=train, n_val=val, n_test=test, seed=self.hparams.seed)

    def setup(self, stage: Optional[str] = None) -> None:
        h = self.hparams
        if h.dataset is None and h.feedback is None:
            raise MedrlInputError("data", "give a dataset, a feedback store, or both")
        if h.feedback_verdicts and h.feedback is None:
            raise MedrlInputError("data.feedback_verdicts", "needs a feedback store (data.feedback) to read verdicts from")
        training, validation, test = ([], [], []) if h.dataset is None else (
            load_datasets(h.dataset, "training"), load_datasets(h.dataset, "validation"), load_datasets(h.dataset, "test"))
        if h.dataset is not None and not validation:
            training, validation = self._split(training)
        if h.tasks == "labels":  # each validation and test case always gets the same task
            validation, test = ([{**case, "task_seed": h.seed + offset + i} for i, case in enumerate(cases)]
                                for cases, offset in ((validation, 10_000), (test, 20_000)))
        training = [{**case, "regime_seed": self.label_regime.seed + index} for index, case in enumerate(training)]
        if h.feedback is not None:
            training = training + self._feedback_cases(training) * max(1, int(h.feedback_repeats))
        if not training:
            raise MedrlInputError(h.dataset, "dataset has no training cases")
        limit = h.max_validation_cases
        self.cases = {"training": training, "validation": validation[:limit] if limit else validation, "test": test}

    def _feedback_cases(self, training: list[dict]) -> list[dict]:
        """The store's reviews (and verdicts, with ``feedback_verdicts``) as training cases."""
        h = self.hparams
        labels = {case["image"]: case["label"] for case in training if case.get("label")}
        cases = review_cases(h.feedback, h.feedback_target, labels, h.feedback_check_hash)
        if h.tasks == "labels":  # a dataset's multi-label map says nothing of a binary review's structure
            cases = [c if c.get("review_structure") is not None or c["label"] is None or h.feedback_target == "accepted"
                     else {**c, "label": None, "has_label": False} for c in cases]
        if h.feedback_verdicts:
            cases += verdict_cases(h.feedback, h.feedback_check_hash)
        if not cases:
            wanted = "review or verdict" if h.feedback_verdicts else "review"
            raise MedrlInputError(h.feedback, f"the feedback store holds no {wanted} to train on")
        self.feedback_used = {"reviews": [c["review_uid"] for c in cases if "review_uid" in c],
                              "verdicts": [c["verdict_uid"] for c in cases if "verdict_uid" in c]}
        return cases

    def _split(self, cases: list[dict]) -> tuple[list[dict], list[dict]]:
        """Hold out ``validation_fraction`` of the cases of each dataset (seeded), keeping the list order."""
        rng, held_out = np.random.default_rng(self.hparams.seed), set()
        for position in sorted({case.get("dataset", 0) for case in cases}):
            members = [i for i, case in enumerate(cases) if case.get("dataset", 0) == position]
            n_val = int(round(len(members) * self.hparams.validation_fraction)) if len(members) > 1 else 0
            held_out.update(members[i] for i in rng.permutation(len(members))[:n_val])
        return [c for i, c in enumerate(cases) if i not in held_out], [c for i, c in enumerate(cases) if i in held_out]

    # ------------------------------------------------------------------------------ transforms
    def case_transform(self, training: bool = False) -> Compose:
        """Deterministic part: read, check pairs, preprocess, binarise, and for training cases apply the
        label regime (cached)."""
        volumes = (*CASE_KEYS, *REVIEW_KEYS)
        if self.hparams.label_classes is not None:
            labels = ClassIndicesd("label", self.hparams.label_classes)
        elif self.hparams.tasks == "labels":
            labels = ListTasksd("label", self.hparams.min_task_voxels, self.hparams.union_task)
        else:
            labels = SelectForegroundd("label", self.hparams.foreground_labels)
        steps = [
            LoadScand(volumes),
            preprocessing_transform(self.preprocessing, "image", volumes[1:]),
            labels,
            SelectForegroundd(("initial", "accepted")),
            TrustNearMarksd(self.hparams.feedback_trust_mm),
        ]
        # flattened: a nested Compose counts as random for MONAI's CacheDataset, which would then cache
        # only the reading and redo the preprocessing at every visit
        return Compose(steps + [ApplyLabelRegimed(self.label_regime)] if training else steps).flatten()

    def task_sampling(self, keys) -> list:
        """With ``tasks="labels"``: the transform that draws a case's task and crops ``keys`` around it; else nothing."""
        if self.hparams.tasks != "labels":
            return []
        margin = [p // 2 + TASK_MARGIN_VOXELS for p in self.hparams.patch_size]
        return [SampleTaskd(keys, margin=margin, largest_box=[2 * p for p in self.hparams.patch_size])]

    def train_transform(self) -> Compose:
        patch, verdicts = tuple(self.hparams.patch_size), bool(self.hparams.feedback_verdicts)
        keys = [*TRAINING_KEYS, *(VERDICT_KEYS if verdicts else ())]
        if self.hparams.label_classes is not None:
            keys.remove("initial")
        return Compose([
            *self.task_sampling(keys),
            TrainingTargetsd(verdicts=verdicts),
            *self.starting_masks(),
            SpatialPadd(keys, spatial_size=patch),
            CropFocusd(reach=[(p - 1) // 2 for p in patch]),  # a centre that far off still has the voxel in its patch
            RandCropByPosNegLabeld(keys, label_key="crop_focus", image_key="crop_region", image_threshold=0, spatial_size=patch,
                                   pos=1, neg=1, num_samples=self.hparams.patches_per_case, allow_smaller=False),
            SelectItemsd([*keys, "has_label", "from_review", *(["verdict"] if verdicts else [])]),
            EnsureTyped(keys, track_meta=True),
        ]).set_random_state(seed=self.hparams.seed)

    def eval_transform(self) -> Compose:
        return Compose([*self.task_sampling(CASE_KEYS), *self.starting_masks(), EnsureTyped(list(CASE_KEYS), track_meta=True,
                                                                                            allow_missing_keys=True)])

    def starting_masks(self) -> list:
        """The perturbation that gives each case a starting mask (none for a multi-class segmenter's classes)."""
        return [] if self.hparams.label_classes is not None else [PerturbLabeld(config=self.perturbation)]

    # ----------------------------------------------------------------------------- data loaders
    def _dataset(self, cases: list[dict], random_part: Compose, seed_offset: int, training: bool = False) -> Dataset:
        cases = [{**c, "perturbation_seed": self.hparams.seed + seed_offset + i} if seed_offset else dict(c) for i, c in enumerate(cases)]
        cases = [{k: v for k, v in c.items() if v is not None} for c in cases]
        cached = CacheDataset(cases, self.case_transform(training), cache_rate=1.0 if self.hparams.cache else 0.0,
                              num_workers=None, progress=False, copy_cache=False)
        return Dataset(cached, random_part)

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset(self.cases["training"], self.train_transform(), seed_offset=0, training=True)
        positions = [case.get("dataset", 0) for case in self.cases["training"]]
        indices = balanced_indices(positions) if self.hparams.balance_datasets else list(range(len(positions)))
        if indices != list(range(len(positions))):
            dataset = Subset(dataset, indices)
        sampler = None
        if self.hparams.visits_per_epoch:  # fresh shuffles of the whole list each epoch, cut or cycled to length
            generator = torch.Generator().manual_seed(int(self.hparams.seed))
            sampler = RandomSampler(dataset, num_samples=int(self.hparams.visits_per_epoch), generator=generator)
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=sampler is None, sampler=sampler,
                          num_workers=self.hparams.num_workers, drop_last=False, persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset(self.cases["validation"], self.eval_transform(), 10_000), batch_size=1,
                          num_workers=self.hparams.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset(self.cases["test"], self.eval_transform(), 20_000), batch_size=1,
                          num_workers=self.hparams.num_workers)

    def provenance_record(self) -> dict:
        """What this run trained on, for the checkpoint's provenance (:mod:`medrl.models.provenance`): the
        datasets' resolved paths and the feedback store's ids of the reviews and verdicts read."""
        h = self.hparams
        datasets = [] if h.dataset is None else [h.dataset] if isinstance(h.dataset, (str, os.PathLike)) else list(h.dataset)
        feedback = None
        if h.feedback is not None:
            used = getattr(self, "feedback_used", {"reviews": [], "verdicts": []})  # filled when setup reads the store
            feedback = {"store": os.fspath(Path(h.feedback).resolve()), "target": h.feedback_target,
                        "repeats": int(h.feedback_repeats), **used}
        return {"datasets": [os.fspath(Path(d).resolve()) if Path(d).exists() else os.fspath(d) for d in datasets],
                "feedback": feedback}

    def preprocessing_record(self) -> dict:
        """Plain-typed settings inference needs to reproduce this preprocessing (saved in checkpoints)."""
        p = self.preprocessing
        return {
            "spacing": None if p.spacing is None else list(p.spacing),
            "intensity": p.intensity, "ct_window": list(p.ct_window), "mr_percentiles": list(p.mr_percentiles),
            "crop_foreground": p.crop_foreground, "crop_margin": p.crop_margin,
            "foreground_labels": self.hparams.foreground_labels,
        }


def balanced_indices(datasets: list[int]) -> list[int]:
    """Indices into cases whose dataset positions are ``datasets``, each case repeated so that every dataset
    has about as many entries as the largest (a dataset of n cases: each ``round(largest / n)`` times).

    Example:
        >>> balanced_indices([0, 0, 0, 0, 1, 1])
        [0, 1, 2, 3, 4, 4, 5, 5]
    """
    counts = {position: datasets.count(position) for position in set(datasets)}
    largest = max(counts.values(), default=0)
    indices = []
    for index, position in enumerate(datasets):
        indices += [index] * max(1, int(round(largest / counts[position])))
    return sorted(indices)
