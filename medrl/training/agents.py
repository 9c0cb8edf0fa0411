"""``AgentsModule``: the refinement agents trained with A2C under Lightning's manual optimization.

Each training step, for a batch of patches (see :class:`medrl.training.datamodule.MedrlDataModule`):
1. starting masks: the perturbed labels of the batch, or, for a share ``segmenter_fraction`` of the
   dataset patches, the segmenter's mask; a clinician's review starts from the mask the clinician
   started from; all become probabilities by the soft start (0.75 / 0.25);
2. an episode of K interactions with the robot clinician, S agent steps each (:func:`rollout`); the
   reward's target is the label where known, overridden by a review's corrections (a reviewed scan
   without label earns rewards on its corrections alone, and the robot clicks on their errors); a
   clinician's verdict on a refinement adds the accept/reject reward on the voxels it changed;
3. one update (:func:`medrl.agents.a2c.a2c_update`, the function the tests train with): behaviour cloning
   during the warm start, then A2C with a small cloning term, and one optimizer step.

Validation plays the robot-clinician protocol on whole cases with greedy actions and logs the Dice after
each interaction (``val/dice_0`` = starting mask ... ``val/dice_K``), and after the last one the
normalised surface Dice (``val/nsd``, at the reward's tolerance) and HD95 (``val/hd95_mm``), by which
task-reward tuning keeps its best checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Optional

import numpy as np
import pytorch_lightning as pl
import torch

from medrl.agents.a2c import A2CConfig, a2c_update
from medrl.agents.policy import PolicyValueNet
from medrl.agents.rollout import act_greedily, rollout
from medrl.agents.windowed import SlidingWindowPolicy
from medrl.data.geometry import voxel_spacing
from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.episode import start_episode
from medrl.env.protocol import play_protocol
from medrl.env.rewards.verdict import signed_verdict_map
from medrl.env.state import soft_start
from medrl.errors import MedrlInputError
from medrl.models.checkpoint import Checkpoint, inference_bundle
from medrl.models.provenance import base_record
from medrl.models.segmenter_net import load_frozen_segmenter
from medrl.training.frozen_segmenter import with_segmenter_masks
from medrl.training.validation_logs import log_dice_curve, log_surface_metrics, robot_seed_of

AGENT_KINDS = ("voxel", "region")


def _as(cls, value):
    """Accept a dataclass instance, a plain dict of its fields (as stored in checkpoints) or None."""
    if value is None:
        return cls()
    return cls(**value) if isinstance(value, dict) else value


def label_validity(has_label: torch.Tensor | None, label: torch.Tensor) -> torch.Tensor | None:
    """(B, 1, X, Y, Z) bool where the label is known, from per-patch flags (B,); ``None`` = everywhere."""
    if has_label is None or bool(torch.as_tensor(has_label).all()):
        return None
    return torch.as_tensor(has_label, device=label.device).bool().view(-1, 1, 1, 1, 1).expand_as(label)


def corrections_of(batch: dict) -> torch.Tensor | None:
    """The batch's (B, 1, X, Y, Z) uint8 clinician corrections, or ``None`` when nobody marked anything."""
    corrections = batch.get("corrections")
    if corrections is None or not bool(corrections.any()):
        return None
    return corrections.as_tensor() if hasattr(corrections, "as_tensor") else corrections


def verdict_map_of(batch: dict) -> torch.Tensor | None:
    """The batch's (B, 1, X, Y, Z) float32 signed verdict map in [−1, 1] — ``verdict`` × (+1 where
    ``verdict_direction`` is 2, raised; −1 where 1, lowered) — or ``None`` when no patch has a verdict."""
    verdict = batch.get("verdict")
    if verdict is None or not bool(torch.as_tensor(verdict).any()):
        return None
    direction = batch["verdict_direction"]
    direction = direction.as_tensor() if hasattr(direction, "as_tensor") else direction
    return signed_verdict_map(direction, torch.as_tensor(verdict, dtype=torch.float32, device=direction.device))


def batch_spacings(image) -> list[tuple[float, float, float]]:
    """Voxel sizes in mm of each volume of a collated MetaTensor batch (B, 1, X, Y, Z)."""
    affines = np.asarray(image.affine)
    affines = affines[None] if affines.ndim == 2 else affines
    return [voxel_spacing(affine) for affine in affines]


class AgentsModule(pl.LightningModule):
    """Trains the shared policy of the refinement agents.

    Args:
        segmenter_checkpoint: a ``SegmenterModule`` checkpoint; its network travels in this module's
            checkpoints (frozen), so inference needs one file. ``None``: episodes start from
            perturbed labels only.
        init_from: a medrl agents checkpoint to start from (fine-tuning): its policy weights, and its
            segmenter unless ``segmenter_checkpoint`` is given. The architecture must match. With
            ``a2c.anchor_weight`` > 0, a frozen copy of that policy is the anchor's reference
            (``reference.*`` in this module's state).
        segmenter_fraction: share of training patches whose starting mask is the segmenter's.
        agents: ``"voxel"`` (every voxel an agent) or ``"region"`` (supervoxels).
        region_method: ``"slic"`` or ``"grid"`` regions for region agents.
        region_size_mm: typical region edge in mm.
        interactions: K, robot-clinician interactions per training episode.
        steps: S, agent steps after each interaction.
        initial_steps: agent steps before the first click of a training episode (as ``medrl predict``
            refines a scan without clicks); 0 = the robot clinician clicks first.
        val_interactions: interactions in the validation protocol.
        soft_start: (inside, outside) initial probabilities of a binary mask.
        policy_channels: UNet channels of the policy/value network.
        policy_strides: UNet strides (one fewer than channels).
        policy_res_units: residual units per UNet block.
        reward_map_kernel: PixelRL reward-map convolution kernel (``None``: off).
        env: environment settings (:class:`EnvConfig`: actions, hints, clicks, reward weights).
        a2c: update settings (:class:`A2CConfig`: γ, β, value weight, warm start, cloning weight).
        inference_env: :class:`EnvConfig` fields that differ in validation and inference (the checkpoint's
            ``env``) from training, e.g. ``{act_within_mm: 10, act_one_way: true}``: a do-no-harm zone that
            only guards the clinician's mask, while training lets every agent learn from every voxel.
        roi_size: window of the policy in validation and inference (normally the training patch size).
        lr: Adam learning rate.
    """

    def __init__(
        self,
        segmenter_checkpoint: Optional[str] = None,
        init_from: Optional[str] = None,
        segmenter_fraction: float = 0.5,
        agents: str = "voxel",
        region_method: str = "slic",
        region_size_mm: float = 6.0,
        interactions: int = 5,
        steps: int = 1,
        initial_steps: int = 0,
        val_interactions: int = 5,
        soft_start: tuple[float, float] = (0.75, 0.25),
        policy_channels: tuple[int, ...] = (16, 32, 64, 128),
        policy_strides: tuple[int, ...] = (2, 2, 2),
        policy_res_units: int = 0,
        reward_map_kernel: Optional[int] = None,
        env: Optional[EnvConfig] = None,
        a2c: Optional[A2CConfig] = None,
        inference_env: Optional[dict] = None,
        roi_size: tuple[int, int, int] = (32, 32, 32),
        lr: float = 1e-3,
    ):
        super().__init__()
        if agents not in AGENT_KINDS:
            raise ValueError(f"agents must be one of {AGENT_KINDS}, got {agents!r}")
        self.env_config, self.a2c_config = _as(EnvConfig, env), _as(A2CConfig, a2c)
        self.inference_env_config = dataclasses.replace(self.env_config, **(inference_env or {}))
        arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__", "env", "a2c")}
        # plain types only (the checkpoint loads with weights_only=True); the class path lets
        # `medrl validate/test/fit --ckpt_path FILE` rebuild this module from the checkpoint's settings
        self.save_hyperparameters({**arguments, "env": dataclasses.asdict(self.env_config), "a2c": dataclasses.asdict(self.a2c_config),
                                   "_class_path": f"{type(self).__module__}.{type(self).__qualname__}"})
        self.automatic_optimization = False
        self.policy = PolicyValueNet(len(self.env_config.deltas), channels=policy_channels, strides=policy_strides,
                                     num_res_units=policy_res_units, reward_map_kernel=reward_map_kernel)
        self.segmenter, self.segmenter_bundle = None, None
        self.base_provenance = None  # fine-tuning: the checkpoint started from (medrl.models.provenance)
        if segmenter_checkpoint:
            self._load_segmenter(Checkpoint.load(segmenter_checkpoint), segmenter_checkpoint)
        if init_from:
            self._start_from(init_from, keep_segmenter=bool(segmenter_checkpoint))
        self.reference = None
        if self.a2c_config.anchor_weight > 0:
            if not init_from:
                raise ValueError("a2c.anchor_weight > 0 anchors fine-tuning to the policy it starts from: set init_from")
            self.reference = copy.deepcopy(self.policy).requires_grad_(False).eval()

    def _start_from(self, path: str, keep_segmenter: bool) -> None:
        """Load the policy (and, unless kept, the segmenter) of a medrl agents checkpoint."""
        checkpoint = Checkpoint.load(path)
        if checkpoint.policy is None:
            raise MedrlInputError(path, "init_from needs an agents checkpoint (it has no policy)")
        try:
            self.policy.load_state_dict(checkpoint.policy.weights(checkpoint.state_dict))
        except RuntimeError as error:
            raise MedrlInputError(path, f"its policy does not fit this architecture ({str(error).splitlines()[0]})") from None
        if not keep_segmenter and checkpoint.segmenter is not None:
            self._load_segmenter(checkpoint, path)
        self.base_provenance = base_record(path, checkpoint.provenance)

    def _load_segmenter(self, checkpoint: Checkpoint, source: str) -> None:
        self.segmenter, self.segmenter_bundle = load_frozen_segmenter(checkpoint, source)

    def train(self, mode: bool = True) -> "AgentsModule":
        """Switch the policy's mode; the frozen segmenter and reference always stay in evaluation mode."""
        super().train(mode)
        for frozen in (self.segmenter, self.reference):
            if frozen is not None:
                frozen.eval()
        return self

    # ----------------------------------------------------------------------------- episode set-up
    def initial_masks(self, image: torch.Tensor, given: torch.Tensor, fraction: float,
                      from_review: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1, X, Y, Z) uint8 starting masks: ``given`` (perturbed labels, dataset or review masks),
        replaced by the segmenter's for the first ``fraction`` of the patches not from a review."""
        roi = self.segmenter_bundle["roi_size"] if self.segmenter_bundle else None
        return with_segmenter_masks(self.segmenter, roi, image, given, fraction, from_review)

    def make_env(self, batch: dict, initial: torch.Tensor, seed: int | None = None,
                 config: EnvConfig | None = None) -> RefinementEnv:
        """A reset environment for the batch, starting from ``initial`` masks by the soft start; the
        batch's ``has_label`` and ``corrections`` (when present) decide where the target is known, its
        ``verdict`` and ``verdict_direction`` (when present) add the accept/reject reward.
        ``seed``: the robot clinician's (default: drawn from torch's random stream); ``config``: the
        environment's settings (default: training's)."""
        h = self.hparams
        label = batch["label"].as_tensor().float()
        return start_episode(
            config or self.env_config, batch["image"].as_tensor(), soft_start(initial, *h.soft_start), batch_spacings(batch["image"]),
            label=label, label_valid=label_validity(batch.get("has_label"), label), corrections=corrections_of(batch),
            verdict=verdict_map_of(batch), agents=h.agents, region_method=h.region_method, region_size_mm=h.region_size_mm,
            seed=int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else seed,
        )

    # -------------------------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> None:
        image = batch["image"].as_tensor()
        initial = self.initial_masks(image, batch["initial"].as_tensor(), self.hparams.segmenter_fraction, batch.get("from_review"))
        b = rollout(self.make_env(batch, initial), self.policy, self.hparams.interactions, self.hparams.steps,
                    record_oracle=self.a2c_config.warm_start_updates > 0 or self.a2c_config.cloning_weight > 0,
                    reference=self.reference, initial_steps=self.hparams.initial_steps,
                    trained_steps=self.a2c_config.trained_steps, bootstrap=self.a2c_config.bootstrap)
        optimizer = self.optimizers()
        terms = a2c_update(self.policy, optimizer, b, self.a2c_config, self.global_step, backward=self.manual_backward,
                           clip_gradients=lambda norm: self.clip_gradients(optimizer, gradient_clip_val=norm,
                                                                           gradient_clip_algorithm="norm"))
        self._log_training(terms, b, image.shape[0])

    def _log_training(self, terms, b, batch_size: int) -> None:
        valid = b.b_valid.float()
        reward = (b.b_rewards * valid).sum() / valid.sum().clamp_min(1)
        self.log("train/reward", reward, batch_size=batch_size)
        for name, value in terms._asdict().items():
            self.log(f"train/loss/{name}", value.detach(), prog_bar=name == "total", batch_size=batch_size)
        for k in range(b.dice_before.shape[0]):
            self.log(f"train/dice/before_{k + 1}", b.dice_before[k].nanmean(), batch_size=batch_size)
            self.log(f"train/dice/after_{k + 1}", b.dice_after[k].nanmean(), batch_size=batch_size)
        self.log("train/dice_gain", (b.dice_after[-1] - b.dice_before[0]).nanmean(), prog_bar=True, batch_size=batch_size)

    # ------------------------------------------------------------------------------ validation
    def robot_protocol(self, batch: dict, initial: torch.Tensor, interactions: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The robot-clinician protocol (:func:`medrl.env.protocol.play_protocol`) with greedy actions: ``(dice, masks)``,
        the (K + 1, B) Dice of the starting mask and after each interaction, and the (B, 1, X, Y, Z) bool masks after
        the last."""
        seed = robot_seed_of(batch)
        env = self.make_env(batch, initial, seed=seed, config=self.inference_env_config)
        windowed = SlidingWindowPolicy(self.policy, self.hparams.roi_size)
        dice = []

        def interact(p: torch.Tensor, clicks: list) -> torch.Tensor:
            env.add_clicks(clicks)
            return act_greedily(env, windowed, self.hparams.steps)

        # the robot's truth: the reward's target (the label, overridden by a review's corrections), where it is known
        play_protocol(env.p, env.target.clone(), env.spacing, interactions, interact,
                      self.inference_env_config.clicks_per_interaction, seed=seed, known=env.valid.clone(),
                      record=lambda k, p, clicks: dice.append(env.dice()))
        return torch.stack(dice), env.mask()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        image = batch["image"].as_tensor()
        starts = {"perturbed": batch["initial"].as_tensor()}
        if self.segmenter is not None:
            starts["segmenter"] = self.initial_masks(image, starts["perturbed"], fraction=1.0)
        for name, initial in starts.items():
            prefix = "val" if name == "perturbed" else f"val_{name}"
            dice, masks = self.robot_protocol(batch, initial, self.hparams.val_interactions)
            log_dice_curve(self, prefix, dice, image.shape[0], prog_bar=name == "perturbed")
            log_surface_metrics(self, prefix, masks, batch["label"].as_tensor(), batch_spacings(batch["image"]),
                                self.env_config.reward.surface_tolerance_mm)

    def configure_optimizers(self):
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.lr)

    # ------------------------------------------------------------------------------ checkpoints
    def bundle_parts(self) -> dict:
        """This module's part of the checkpoint's inference bundle (see :mod:`medrl.models.checkpoint`)."""
        h = self.hparams
        parts = {
            "policy": {"architecture": {"n_actions": len(self.env_config.deltas), "channels": list(h.policy_channels),
                                        "strides": list(h.policy_strides), "num_res_units": h.policy_res_units,
                                        "reward_map_kernel": h.reward_map_kernel},
                       "roi_size": list(h.roi_size), "prefix": "policy."},
            "env": dataclasses.asdict(self.inference_env_config),
            "agents": {"kind": h.agents, "region_method": h.region_method, "region_size_mm": h.region_size_mm},
            "soft_start": list(h.soft_start),
            "steps": h.steps,
        }
        if self.segmenter_bundle is not None:
            parts["segmenter"] = {**self.segmenter_bundle, "prefix": "segmenter."}
        return parts

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["medrl"] = inference_bundle(self)
