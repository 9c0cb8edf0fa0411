"""``medrl predict`` over many scans: Lightning's predict loop, one scan per step, files written by a
prediction writer — on one CPU or across GPUs and nodes (DDP: each rank takes its share of the scans,
none twice, and writes its scans' files).

A scan that fails (unreadable, wrong grid, out of memory...) is reported on one line and skipped; the
others finish. Every rank's records are gathered into ``OUTPUT/predict_report.json``:
``[{"name", "input", "status": "ok" | "failed", "error", "outputs", "foreground_ml", "seconds"}, ...]``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from medrl.data.atomic import write_text_atomically
from medrl.data.dicom_seg import write_dicom_seg
from medrl.data.label_maps import LabelMap, read_label_map, write_label_map
from medrl.data.label_names import LabelNames, choose_labels
from medrl.data.readers import read_scan
from medrl.data.writers import write_mask, write_volume
from medrl.errors import MedrlInputError
from medrl.inference.clicks_file import ClickSet
from medrl.inference.inputs import REPORT_NAME, ScanInput, output_paths
from medrl.inference.progress import StageReport
from medrl.inference.refiner import Prediction, Refiner, StructuresPrediction


@dataclass
class PredictSettings:
    """What to do with each scan (the ``medrl predict`` options).

    Attributes:
        checkpoint: the medrl checkpoint.
        output_dir: where outputs go.
        mask: starting mask (only with a single scan); ``None``: the segmenter's.
        clicks: clinician clicks (only with a single scan).
        steps: agent steps (``None``: the checkpoint's S).
        probabilities, entropy: also write the probability / entropy maps.
        overwrite: replace existing outputs.
        tile_edge: largest agents' tile side in voxels (memory bound).
        window_overlap: overlap of the policy's sliding windows (0.25 smoother, 0 faster).
        precision: the networks' precision (``"32"``, ``"bf16-mixed"``, ``"16-mixed"``; see :class:`Refiner`).
        modality: the scans' modality for a checkpoint with the ``auto`` intensity preset (``None``: guessed per scan
            from its intensities; see :mod:`medrl.data.intensity`).
        labels: with a multi-label ``mask``, the structures to refine (``"3"``, ``"liver,spleen"``, ``"all"``);
            the output is then the whole map with only those structures changed.
        label_names: a names sidecar for ``labels`` (see :mod:`medrl.data.label_names`).
        replace_other_structures: let a refined structure take voxels of other structures.
        channel: volume to read from 4D scans.
        mask_format: ``nifti``, ``nrrd``, ``seg.nrrd`` or ``dicom-seg`` (see :mod:`medrl.inference.inputs`).
    """

    checkpoint: str
    output_dir: str
    mask: str | None = None
    clicks: ClickSet | None = None
    steps: int | None = None
    probabilities: bool = False
    entropy: bool = False
    overwrite: bool = False
    tile_edge: int = 160
    window_overlap: float = 0.25
    precision: str = "32"
    modality: str | None = None
    labels: str | None = None
    label_names: str | None = None
    replace_other_structures: bool = False
    channel: int | None = None
    mask_format: str = "nifti"

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("mask",) + (("probability",) if self.probabilities else ()) + (("entropy",) if self.entropy else ())


@dataclass
class ScanResult:
    """predict_step's output for one scan: the prediction, or the error that stopped it."""

    scan: ScanInput
    prediction: Prediction | StructuresPrediction | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


class PredictModule(pl.LightningModule):
    """Runs :meth:`Refiner.predict` on one scan per step; the Refiner is built on the rank's device."""

    def __init__(self, settings: PredictSettings):
        super().__init__()
        self.settings = settings
        self.refiner: Refiner | None = None

    def on_predict_start(self) -> None:
        self.refiner = Refiner.from_checkpoint(self.settings.checkpoint, device=self.device, tile_edge=self.settings.tile_edge,
                                               window_overlap=self.settings.window_overlap, precision=self.settings.precision)

    def transfer_batch_to_device(self, batch: ScanInput, device, dataloader_idx: int) -> ScanInput:
        return batch  # a path; the Refiner moves tensors itself, window by window

    def _stage_report(self, name: str) -> StageReport | None:
        """The scan's stages after Lightning's bar over the scans (``None`` without a bar)."""
        callback = self.trainer.progress_bar_callback
        bar = getattr(callback, "predict_progress_bar", None) if callback is not None else None
        if bar is None or getattr(bar, "disable", False):
            return None
        return StageReport(lambda text: bar.set_postfix({name: text}, refresh=True))

    def predict_step(self, scan: ScanInput, batch_idx: int = 0) -> ScanResult:
        s = self.settings
        try:
            image = read_scan(scan.image, channel=s.channel) if s.channel is not None else scan.image
            progress = self._stage_report(scan.name)
            if s.labels is not None:
                label_map = read_label_map(s.mask, s.label_names)
                values = choose_labels(s.labels, label_map.names, label_map.labels, s.mask)
                return ScanResult(scan, self.refiner.refine_structures(
                    image, label_map, values, clicks=s.clicks, steps=s.steps, modality=s.modality,
                    replace_other_structures=s.replace_other_structures, progress=progress))
            prediction = self.refiner.predict(image, mask=s.mask, clicks=s.clicks, steps=s.steps, probability=s.probabilities,
                                              entropy=s.entropy, modality=s.modality, progress=progress)
            return ScanResult(scan, prediction)
        except MedrlInputError as error:
            return ScanResult(scan, error=str(error))
        except Exception as error:  # one scan's failure (e.g. out of memory) must not stop the others
            return ScanResult(scan, error=f"{scan.image}: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")


class PredictionFiles(BasePredictionWriter):
    """Writes each scan's files as soon as it is done (atomically, never over an input) and gathers
    every rank's records into the run's report."""

    def __init__(self, settings: PredictSettings):
        super().__init__(write_interval="batch")
        self.settings = settings
        self.records: list[dict] = []

    def write_on_batch_end(self, trainer, pl_module, prediction: ScanResult, batch_indices, batch, batch_idx, dataloader_idx):
        record = {"name": prediction.scan.name, "input": prediction.scan.image, "status": "failed",
                  "error": prediction.error, "outputs": {}, "rank": trainer.global_rank}
        if prediction.prediction is not None:
            try:
                record.update(self._write(prediction.scan, prediction.prediction))
            except MedrlInputError as error:
                record["error"] = str(error)
            except Exception as error:  # one scan's failed write (disk full, a writer's check) must not stop the others
                record["error"] = f"{prediction.scan.image}: cannot write outputs ({type(error).__name__}: " \
                                  f"{(str(error).splitlines() or [''])[0][:200]})"
        self.records.append(record)

    def _write(self, scan: ScanInput, prediction: Prediction | StructuresPrediction) -> dict:
        s = self.settings
        paths = output_paths(scan, s.output_dir, s.kinds, s.mask_format)
        inputs = tuple(p for p in (scan.image, s.mask) if p)
        if isinstance(prediction, StructuresPrediction):
            self._write_mask(prediction.label_map, paths["mask"], scan, inputs)
            return {"status": "ok", "outputs": {"mask": os.fspath(paths["mask"])}, "seconds": prediction.seconds,
                    "structures": [change.as_record() for change in prediction.changes], "clicks": prediction.clicks,
                    "warnings": prediction.warnings}
        mask = prediction.mask[0].numpy()
        affine = np.asarray(prediction.mask.affine)
        if s.mask_format == "nifti":
            write_mask(mask, affine, paths["mask"], overwrite=s.overwrite, inputs=inputs)
        else:
            self._write_mask(LabelMap(mask.astype(np.uint8), affine, LabelNames({1: "structure"}), scan.image), paths["mask"],
                             scan, inputs)
        for kind in ("probability", "entropy"):
            volume = getattr(prediction, kind)
            if kind in paths and volume is not None:
                write_volume(volume[0].numpy().astype(np.float32), affine, paths[kind], overwrite=self.settings.overwrite,
                             inputs=inputs)
        voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
        return {"status": "ok", "outputs": {k: os.fspath(p) for k, p in paths.items()},
                "foreground_ml": round(float(mask.sum()) * voxel_ml, 3), "seconds": prediction.seconds,
                "clicks": prediction.click_report, "warnings": prediction.warnings}

    def _write_mask(self, label_map: LabelMap, path: Path, scan: ScanInput, inputs: tuple) -> None:
        if self.settings.mask_format == "dicom-seg":
            write_dicom_seg(label_map, scan.image, path, overwrite=self.settings.overwrite)
        else:
            write_label_map(label_map, path, overwrite=self.settings.overwrite, inputs=inputs)

    def on_predict_end(self, trainer, pl_module) -> None:
        records = self.records
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, records)
            records = [record for part in gathered for record in part]
        self.records = sorted(records, key=lambda r: r["name"])
        if trainer.is_global_zero:
            write_text_atomically(Path(self.settings.output_dir) / REPORT_NAME, json.dumps(self.records, indent=2))


def _one_scan(batch: list[ScanInput]) -> ScanInput:
    return batch[0]


def run_predict(scans: list[ScanInput], settings: PredictSettings, accelerator: str = "cpu", devices: int = 1,
                num_nodes: int = 1) -> list[dict]:
    """Predict every scan; returns the report's records (every rank gets all of them).

    Args:
        scans: from :func:`medrl.inference.inputs.list_scans`.
        settings: what to do with each scan.
        accelerator: ``"cpu"`` or ``"gpu"`` (``"auto"``: a GPU when present).
        devices, num_nodes: processes per node and nodes; more than one process runs DDP.
    """
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):  # no GPU/TPU banners, no tips
        logging.getLogger(name).setLevel(logging.WARNING)
    writer = PredictionFiles(settings)
    distributed = devices * num_nodes > 1
    trainer = pl.Trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy="ddp" if distributed else "auto",
        logger=False, enable_checkpointing=False, enable_model_summary=False, callbacks=[writer],
        default_root_dir=settings.output_dir,
    )
    loader = DataLoader(scans, batch_size=1, shuffle=False, collate_fn=_one_scan)
    trainer.predict(PredictModule(settings), loader, return_predictions=False)
    return writer.records
