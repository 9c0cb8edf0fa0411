"""The batched refinement environment: B volumes, their probabilities, clicks, targets and rewards.

One episode: ``reset`` with images and initial probabilities; then K interactions, each
``add_clicks`` (the robot clinician, or given clicks) followed by S ``step``s of the agents. Clicked
voxels become clinician labels that override the reward's target (see :mod:`medrl.env.rewards.target`).
Per-voxel and per-region agents share this API: agent tensors are (B, N) with N = D·H·W voxels or
R regions (see :mod:`medrl.env.regions`). Everything is batched tensor code on the images' device;
the only Python loops run over the B volumes and their few clicks (robot clicks and distance
transforms are computed with scipy on the CPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medrl.data.mask_metrics import known_dice
from medrl.env.actions import DEFAULT_DELTAS, ActionSet
from medrl.env.clicks import HINT_REACH_SIGMAS, Click, click_ball, robot_round, squared_distance_mm
from medrl.env.geodesic import geodesic_distance_mm
from medrl.env.regions import RegionAgents, VoxelAgents
from medrl.env.rewards.ce_gain import DEFAULT_EPS, boundary_weight
from medrl.env.rewards.mixture import RewardConfig, step_reward, weighted_verdict_gain
from medrl.env.rewards.target import reward_target, split_corrections
from medrl.env.state import build_state, to_mask
from medrl.errors import MedrlInputError


@dataclass(frozen=True)
class _RewardTarget:
    """The reward's target and where it is known, all (B, 1, D, H, W): see :meth:`RefinementEnv.reset`."""

    target: torch.Tensor
    valid: torch.Tensor
    weight: torch.Tensor
    verdict_target: torch.Tensor | None
    known: torch.Tensor


@dataclass
class EnvConfig:
    """Settings of :class:`RefinementEnv`.

    Attributes:
        deltas: the action set, amounts added to a probability (see :class:`ActionSet`).
        eps: probability clamp inside the reward's logarithms.
        clicks_per_interaction: k, robot clicks per interaction (one per error component).
        hint_sigma_mm: σ in mm of the Gaussian hint maps.
        click_radius_mm: a click labels the voxels within this radius in mm (0 = the voxel only).
        clinician_weight: reward weight of clinician-labelled voxels (dataset voxels weigh 1).
        boundary_gain: BS-IRIS extra weight w0 at the target's boundary (0 = no boundary weighting).
        boundary_sigma_mm: σ in mm of the boundary weighting's Gaussian fall-off.
        seed: seed of the robot clinician's tie-breaking.
        reward: the reward's parts and weights (:class:`RewardConfig`; default: the relative CE gain).
        geodesic_weight: λ in mm per unit of normalised intensity: > 0 makes hint maps (and the action
            zone) geodesic, a Gaussian of the image-aware distance to the clicks (:mod:`medrl.env.geodesic`),
            so a click's hint spreads along the structure; 0 = Euclidean distance in mm.
        act_within_mm: "do no harm": > 0 lets agents change their probability only within this distance
            (geodesic when ``geodesic_weight`` > 0) of the current interaction's clicks; elsewhere, and
            before the first click, every voxel keeps its value. 0 = agents act everywhere.
        act_one_way: with ``act_within_mm``, a positive click's zone may only raise probabilities and a
            negative click's only lower them.
        act_within_depth_scale: (positive, negative) clicks' scale; > 0 (with ``act_within_mm``) sizes each click's
            zone by the error it sits in: radius = min(``act_within_mm``, scale × depth), the depth being the click's
            distance in mm to the nearest voxel that the current mask already gives the click's label (a positive
            click: the nearest foreground voxel; a negative one: the nearest background voxel). A clinician clicks
            inside an error, so a negative click on a thin false-positive rim beside a small structure gets a small
            zone and cannot erase the structure. 0 = that sign's zone is ``act_within_mm``; one number = both signs.
        act_far_mm: > 0 (with ``act_within_mm``) widens the zone of a positive click far from the mask: its radius is
            max(its ``act_within_mm`` zone's, min(depth, ``act_far_mm``)), the depth as above (inf on an empty mask). A
            positive click farther from the mask than ``act_within_mm`` marks a part of the structure the mask missed
            entirely; its zone then reaches towards the mask (or ``act_far_mm`` around the click) instead of ``act_within_mm``.
        hint_depth_scale: > 0 widens the hint of a click deep inside an error: its σ is
            min(``hint_sigma_max_mm``, max(``hint_sigma_mm``, scale × depth)), the depth being the click's distance in mm
            to the nearest voxel the current mask already gives its label (as for the zones above), measured anew at
            every interaction, so a click's hint narrows back to ``hint_sigma_mm`` once its error is mended. A click in
            a part of a structure tens of millimetres across that the mask missed then says "this, and around here" over
            the size of the error instead of over 5 mm. A click on a mask with no voxel of its label (an empty mask) keeps
            ``hint_sigma_mm``: nothing tells the size of its error (widened there, the first click over-filled small
            structures, docs/real_patients.md). 0 = every hint has σ = ``hint_sigma_mm``.
        hint_sigma_max_mm: the widest hint's σ in mm (with ``hint_depth_scale``).
    """

    deltas: tuple[float, ...] = DEFAULT_DELTAS
    eps: float = DEFAULT_EPS
    clicks_per_interaction: int = 1
    hint_sigma_mm: float = 5.0
    click_radius_mm: float = 0.0
    clinician_weight: float = 1.0
    boundary_gain: float = 0.0
    boundary_sigma_mm: float = 2.0
    seed: int = 0
    reward: RewardConfig = field(default_factory=RewardConfig)
    geodesic_weight: float = 0.0
    act_within_mm: float = 0.0
    act_one_way: bool = False
    act_within_depth_scale: float | tuple[float, float] = (0.0, 0.0)
    act_far_mm: float = 0.0
    hint_depth_scale: float = 0.0
    hint_sigma_max_mm: float = 10.0

    def __post_init__(self):
        scale = self.act_within_depth_scale
        self.act_within_depth_scale = (float(scale),) * 2 if isinstance(scale, (int, float)) else tuple(map(float, scale))
        if isinstance(self.reward, dict):  # as stored in checkpoints and configs
            self.reward = RewardConfig(**self.reward)

    @property
    def zone_reach_mm(self) -> float:
        """The widest action zone's radius in mm (0 = no zone: agents act everywhere)."""
        return max(self.act_within_mm, self.act_far_mm) if self.act_within_mm > 0 else 0.0

    @property
    def depth_horizon_mm(self) -> float:
        """The click depth in mm beyond which no zone's radius depends on it (0: no zone depends on depth)."""
        if self.act_within_mm <= 0:
            return 0.0
        return max([self.act_far_mm] + [self.act_within_mm / scale for scale in self.act_within_depth_scale if scale > 0])

    @property
    def widest_hint_sigma_mm(self) -> float:
        """The widest σ in mm any click's hint can have (``hint_sigma_max_mm`` when hints scale with depth)."""
        return max(self.hint_sigma_mm, self.hint_sigma_max_mm) if self.hint_depth_scale > 0 else self.hint_sigma_mm


def zone_radius_mm(config: EnvConfig, positive: bool, depth_mm: float) -> float:
    """Radius in mm of a click's action zone (see :class:`EnvConfig`: ``act_within_mm``, ``act_within_depth_scale``,
    ``act_far_mm``) from its depth: its distance in mm to the nearest voxel the mask already gives its label."""
    scale = config.act_within_depth_scale[0 if positive else 1]
    radius = min(config.act_within_mm, scale * depth_mm) if scale > 0 else config.act_within_mm
    if positive and config.act_far_mm > 0:
        radius = max(radius, min(depth_mm, config.act_far_mm))
    return radius


def click_hint_sigma_mm(config: EnvConfig, depth_mm: float) -> float:
    """σ in mm of a click's hint from its depth (see :class:`EnvConfig`: ``hint_depth_scale``; inf = deeper than
    any σ depends on, or nothing labelled like the click)."""
    if config.hint_depth_scale <= 0:
        return config.hint_sigma_mm
    return min(config.widest_hint_sigma_mm, max(config.hint_sigma_mm, config.hint_depth_scale * depth_mm))


def click_depth_mm(p: torch.Tensor, click: Click, spacing: Sequence[float], horizon_mm: float) -> float:
    """A click's depth: the distance in mm from its voxel (inside the grid or not) to the nearest voxel whose mask
    (``p`` ≥ 0.5, (D, H, W) probabilities) already has the click's label, when it is at most ``horizon_mm``; else inf
    (also when there is none). Only the box of ``horizon_mm`` around the click is searched."""
    half = [math.ceil(horizon_mm / s) for s in spacing]
    box = tuple(slice(min(max(0, int(i) - h), n), min(max(0, int(i) + h + 1), n))
                for i, h, n in zip(click.index, half, p.shape))
    labelled = to_mask(p[box]) == bool(click.positive)
    if not bool(labelled.any()):
        return float("inf")
    squared = squared_distance_mm([int(i) - b.start for i, b in zip(click.index, box)], labelled.shape, spacing, p.device)
    depth = float(squared[labelled].min().sqrt())
    return depth if depth <= horizon_mm else float("inf")


def _check_volume_batch(name: str, tensor: torch.Tensor, shape: torch.Size | None = None) -> None:
    """Raise :class:`MedrlInputError` unless ``tensor`` is (B, 1, D, H, W) (and of ``shape`` if given)."""
    if tensor.dim() != 5 or tensor.shape[1] != 1:
        raise MedrlInputError(name, f"expected shape (B, 1, D, H, W), got {tuple(tensor.shape)}")
    if shape is not None and tensor.shape != shape:
        raise MedrlInputError(name, f"shape {tuple(tensor.shape)} differs from the image's {tuple(shape)}")


def _check_episode_inputs(
    image: torch.Tensor,
    p0: torch.Tensor,
    label: torch.Tensor | None,
    label_valid: torch.Tensor | None,
    regions: torch.Tensor | None,
    corrections: torch.Tensor | None = None,
    verdict: torch.Tensor | None = None,
) -> None:
    """Raise :class:`MedrlInputError` unless the inputs of :meth:`RefinementEnv.reset` fit together."""
    _check_volume_batch("image", image)
    _check_volume_batch("p0", p0, image.shape)
    if p0.min() < 0 or p0.max() > 1:
        raise MedrlInputError("p0", "probabilities must lie in [0, 1]")
    if label is not None:
        _check_volume_batch("label", label, image.shape)
        if not ((label == 0) | (label == 1)).all():
            raise MedrlInputError("label", "a binary label with values {0, 1} is expected")
    if label_valid is not None:
        _check_volume_batch("label_valid", label_valid, image.shape)
    if corrections is not None:
        _check_volume_batch("corrections", corrections, image.shape)
    if verdict is not None:
        _check_volume_batch("verdict", verdict, image.shape)
        if not bool(((verdict >= -1) & (verdict <= 1)).all()):
            raise MedrlInputError("verdict", "a signed verdict map holds values in [-1, 1]")
    if regions is not None and tuple(regions.shape) != (image.shape[0], *image.shape[2:]):
        raise MedrlInputError("regions", f"expected shape (B, D, H, W) = {(image.shape[0], *image.shape[2:])}")


def _per_volume_spacing(spacing: Sequence, batch: int) -> list[tuple[float, float, float]]:
    """One (D, H, W) spacing in mm per volume, from one spacing or a list of B spacings."""
    spacings = [spacing] * batch if np.ndim(spacing) == 1 else list(spacing)
    if len(spacings) != batch or any(len(s) != 3 or min(s) <= 0 for s in spacings):
        raise MedrlInputError("spacing", f"expected 3 positive voxel sizes in mm (or {batch} of them), got {spacing}")
    return [tuple(float(v) for v in s) for s in spacings]


class RefinementEnv:
    """B volumes being refined by agents (per voxel or per region) and corrected by a clinician.

    Args:
        config: the environment's settings; defaults to ``EnvConfig()``.

    After :meth:`reset`, the environment holds, all on the image's device:
    ``image`` (B, 1, D, H, W) float32; ``p`` (B, 1, D, H, W) float32 in [0, 1]; ``hints``
    (B, 2, D, H, W) float32 in [0, 1]; ``target`` / ``valid`` / ``weight`` (B, 1, D, H, W), the
    reward's target (float {0, 1}), where it is known (bool) and its weight (float, 0 where not valid);
    ``verdict_target`` (B, 1, D, H, W) float32 in [−1, 1] or ``None``: the signed verdict map where no
    clinician marked the voxel; ``known`` (B, 1, D, H, W) bool: where a target or a verdict is known
    (``valid`` itself without verdicts); ``clicks`` (B lists of :class:`Click`); ``agents`` (voxel or
    region agents).
    The reward's parts (``target`` … ``known``) are computed when first read after a change of the clinician's
    labels. Change ``p`` only through :meth:`step`, :meth:`move` (no reward) or :meth:`reset`: the environment
    caches the log-likelihood of ``p`` so that consecutive steps compute the reward's cross-entropy once, not twice.

    Example:
        >>> env = RefinementEnv()
        >>> state = env.reset(image, soft_start(initial_mask), label=label)        # doctest: +SKIP
        >>> env.add_clicks()                                                        # doctest: +SKIP
        >>> state, reward_map = env.step(actions)                                   # doctest: +SKIP
    """

    def __init__(self, config: EnvConfig | None = None):
        self.config = config or EnvConfig()
        self.actions = ActionSet(tuple(self.config.deltas))
        self.rng = np.random.default_rng(self.config.seed)

    # ----------------------------------------------------------------------------------- episode
    def reset(
        self,
        image: torch.Tensor,
        p0: torch.Tensor,
        label: torch.Tensor | None = None,
        label_valid: torch.Tensor | None = None,
        spacing: Sequence = (1.0, 1.0, 1.0),
        regions: torch.Tensor | None = None,
        n_regions: int | None = None,
        seed: int | None = None,
        corrections: torch.Tensor | None = None,
        verdict: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Start an episode.

        Args:
            image: (B, 1, D, H, W) float images (normalised intensities).
            p0: (B, 1, D, H, W) initial probabilities in [0, 1] (e.g. ``soft_start(mask)``).
            label: optional (B, 1, D, H, W) ground truth in {0, 1}; ``None`` = no ground truth
                (only clinician voxels will earn rewards; the robot clinician cannot click).
            label_valid: optional (B, 1, D, H, W) bool: where ``label`` is known (default everywhere).
            spacing: voxel size in mm along (D, H, W), one for all volumes or a list of B.
            regions: optional (B, D, H, W) int region maps for per-region agents; ``None`` =
                per-voxel agents.
            n_regions: region slots per volume (default ``regions.max() + 1``).
            seed: re-seed the robot clinician (default: continue its random stream).
            corrections: optional (B, 1, D, H, W) uint8 corrections a clinician made earlier
                (0 untouched, 1 marked background, 2 marked foreground; see
                :mod:`medrl.env.rewards.target`): they are clinician labels from the start, overriding
                ``label`` in the reward's target, but they are not applied to ``p0`` and give no
                hints — the robot clinician clicks on them like on any known target, so the agents
                learn to reproduce the corrections. A volume with no label and only corrections
                trains from its corrections alone.
            verdict: optional (B, 1, D, H, W) float signed verdict map in [−1, 1] (see
                :func:`medrl.env.rewards.verdict.signed_verdict_map`): where non-zero, each step also
                earns ``config.reward.verdict`` × :func:`~medrl.env.rewards.verdict.verdict_gain`, not
                multiplied by the target's weight, so a voxel with a verdict and no label earns it too;
                a voxel a clinician marked keeps its mark's target instead. ``None``: no verdict.

        Returns:
            The state (B, 4, D, H, W) float32.

        Raises:
            MedrlInputError: on mismatched shapes, probabilities outside [0, 1], labels outside {0, 1},
                verdicts outside [−1, 1].
        """
        _check_episode_inputs(image, p0, label, label_valid, regions, corrections, verdict)
        if seed is not None:
            self.rng = np.random.default_rng(seed)

        self.image, self.p = image.float(), p0.float()
        self.label = None if label is None else label.float()
        self.label_valid = None if label_valid is None else label_valid.bool()
        self.verdict = None if verdict is None else verdict.to(image.device).float()
        self.spacing = _per_volume_spacing(spacing, image.shape[0])
        if regions is None:
            self.agents = VoxelAgents(image.shape[2:])
        else:
            self.agents = RegionAgents(regions.to(image.device), n_regions)
        self.clicks: list[list[Click]] = [[] for _ in range(image.shape[0])]
        if corrections is None:
            self.clinician_label, self.clinician_mask = torch.zeros_like(self.p), torch.zeros_like(self.p, dtype=torch.bool)
        else:
            self.clinician_label, self.clinician_mask = split_corrections(corrections.to(image.device))
        self.hints = torch.zeros(image.shape[0], 2, *image.shape[2:], device=image.device)
        self._click_distance = torch.full_like(self.hints, float("inf"))  # mm to the nearest [positive, negative] click
        self.may_raise = self.may_lower = None  # None: everywhere (no zone)
        if self.config.act_within_mm > 0:
            self.may_raise = self.may_lower = torch.zeros_like(self.p, dtype=torch.bool)
        self._refresh_target()
        return self.state()

    def state(self) -> torch.Tensor:
        """(B, 4, D, H, W) float32: [image, p, h+, h−]."""
        return build_state(self.image, self.p, self.hints)

    def add_clicks(self, clicks: Sequence[Sequence[Click]] | None = None) -> list[list[Click]]:
        """Add clicks (the robot clinician's by default); clicked voxels become clinician labels.

        Args:
            clicks: B lists of clicks to add; ``None`` asks the robot clinician for
                ``config.clicks_per_interaction`` clicks per volume on the current mask's errors
                against the reward's target, where it is known (the label, overridden by earlier
                clinician corrections).

        Returns:
            The B lists of clicks added (a volume without errors gets none).

        Raises:
            MedrlInputError: if the robot is asked to click with neither a label nor corrections, or
                ``clicks`` has the wrong length.
        """
        clicks = self._robot_clicks() if clicks is None else [list(c) for c in clicks]
        if len(clicks) != len(self.clicks):
            raise MedrlInputError("clicks", f"expected {len(self.clicks)} lists of clicks, got {len(clicks)}")
        shape = self.image.shape[2:]
        for b, volume_clicks in enumerate(clicks):
            for click in volume_clicks:
                ball = click_ball(click, shape, self.spacing[b], self.config.click_radius_mm, self.p.device)
                self.clinician_mask[b, 0] |= ball
                self.clinician_label[b, 0][ball] = float(click.positive)
            self.clicks[b].extend(volume_clicks)
        new_distance = self._distance_to(clicks)
        self._click_distance = torch.minimum(self._click_distance, new_distance)
        self.hints = torch.exp(-self._hint_distance()**2 / (2.0 * self.config.hint_sigma_mm**2))
        if self.config.act_within_mm > 0:
            self._set_action_zone(self._click_zones(clicks, new_distance))
        self._refresh_target()
        return clicks

    def _hint_distance(self) -> torch.Tensor:
        """(B, 2, D, H, W) float32: the distance in mm the hint maps' Gaussian of σ = ``hint_sigma_mm`` reads, from
        every voxel to the nearest click of each sign, each click's distance scaled by ``hint_sigma_mm`` / its own σ
        (:func:`click_hint_sigma_mm`, from its depth on the current p) so that its Gaussian has its own σ. A click whose
        σ is ``hint_sigma_mm`` adds nothing to the unscaled distances kept in ``_click_distance``, and a wide click's
        scaled distance is below its unscaled one, so only the wide clicks' maps are computed here."""
        config = self.config
        if config.hint_depth_scale <= 0:
            return self._click_distance
        horizon = config.widest_hint_sigma_mm / config.hint_depth_scale
        distance = self._click_distance.clone()
        for b, volume_clicks in enumerate(self.clicks):
            foreground = to_mask(self.p[b, 0])
            has_label = {True: bool(foreground.any()), False: not bool(foreground.all())}
            for click in volume_clicks:
                if not has_label[bool(click.positive)]:
                    continue  # nothing in the volume has the click's label (an empty mask): no scale for its error
                sigma = click_hint_sigma_mm(config, click_depth_mm(self.p[b, 0], click, self.spacing[b], horizon))
                if sigma > config.hint_sigma_mm:
                    own = self._distance_to([[click] if other == b else [] for other in range(len(self.clicks))],
                                            HINT_REACH_SIGMAS * sigma)[b, 0 if click.positive else 1]
                    channel = distance[b, 0 if click.positive else 1]
                    torch.minimum(channel, own * (config.hint_sigma_mm / sigma), out=channel)
        return distance

    def _click_zones(self, clicks: Sequence[Sequence[Click]], distance: torch.Tensor) -> torch.Tensor:
        """(B, 2, D, H, W) bool: voxels within their click's zone radius, [positive, negative] clicks.

        Args:
            clicks: this interaction's B lists of clicks.
            distance: their (B, 2, D, H, W) distances in mm from :meth:`_distance_to`.
        """
        config = self.config
        zone = distance <= config.act_within_mm
        for channel, positive in enumerate((True, False)):
            if config.act_within_depth_scale[channel] <= 0 and not (positive and config.act_far_mm > 0):
                continue  # every zone of this sign is act_within_mm
            zone[:, channel] = False
            for b, volume_clicks in enumerate(clicks):
                signed = [c for c in volume_clicks if bool(c.positive) == positive]
                for click in signed:
                    depth = click_depth_mm(self.p[b, 0], click, self.spacing[b], config.depth_horizon_mm)
                    if len(signed) == 1:  # the only click of its sign: its distance map is the one given
                        own = distance[b, channel]
                    else:
                        own = self._distance_to([[click] if other == b else [] for other in range(len(clicks))])[b, channel]
                    zone[b, channel] |= own <= zone_radius_mm(config, positive, depth)
        return zone

    def _distance_to(self, clicks: Sequence[Sequence[Click]], reach_mm: float | None = None) -> torch.Tensor:
        """(B, 2, D, H, W) float32 distance in mm (geodesic when ``config.geodesic_weight`` > 0) from every
        voxel to the nearest of ``clicks`` that is [positive, negative]; inf where a volume has none. A click
        outside the volume (a tile's neighbour) starts its geodesic paths from the nearest voxel inside, at
        the Euclidean distance between the two. Geodesic distances are computed up to ``reach_mm`` (default: the
        reach of a hint of σ = ``hint_sigma_mm`` or the widest zone) and are inf beyond."""
        shape, device = self.image.shape[2:], self.p.device
        if self.config.geodesic_weight <= 0:
            squared = torch.full((len(clicks), 2, *shape), float("inf"), device=device)
            for b, volume_clicks in enumerate(clicks):
                for click in volume_clicks:
                    channel = 0 if click.positive else 1
                    squared[b, channel] = torch.minimum(squared[b, channel],
                                                        squared_distance_mm(click.index, shape, self.spacing[b], device))
            return squared.sqrt()
        # geodesic: each click's distances within the box where they can be shorter than the reach R (a path
        # shorter than R stays within R of its click in Euclidean terms too), inf beyond; all clicks of the batch
        # in one call, each box the same size around its click (the image padded by replication at the borders)
        reach = reach_mm if reach_mm is not None else max(HINT_REACH_SIGMAS * self.config.hint_sigma_mm,
                                                           self.config.zone_reach_mm)
        distance = torch.full((len(clicks), 2, *shape), float("inf"), device=device)
        jobs = [(b, click) for b, volume_clicks in enumerate(clicks) for click in volume_clicks]
        if not jobs:
            return distance
        half = [max(math.ceil(reach / s) for s in (self.spacing[b][axis] for b, _ in jobs)) for axis in range(3)]
        padded = F.pad(self.image, [h for h in reversed(half) for _ in range(2)], mode="replicate")
        images, starts = [], torch.full((len(jobs), 1, *(2 * h + 1 for h in half)), float("inf"), device=device)
        for j, (b, click) in enumerate(jobs):
            centre = [min(max(int(i), 0), n - 1) for i, n in zip(click.index, shape)]  # a click off the volume: its nearest voxel
            images.append(padded[b, :, centre[0]: centre[0] + 2 * half[0] + 1, centre[1]: centre[1] + 2 * half[1] + 1,
                                 centre[2]: centre[2] + 2 * half[2] + 1])
            starts[(j, 0, *half)] = sum(((i - c) * v) ** 2 for i, c, v in zip(click.index, centre, self.spacing[b])) ** 0.5
        local = geodesic_distance_mm(torch.stack(images), starts, [self.spacing[b] for b, _ in jobs], self.config.geodesic_weight)
        local = local.masked_fill(local > reach, float("inf"))
        for j, (b, click) in enumerate(jobs):
            centre = [min(max(int(i), 0), n - 1) for i, n in zip(click.index, shape)]
            box = [slice(max(0, c - h), min(n, c + h + 1)) for c, h, n in zip(centre, half, shape)]
            inner = [slice(s.start - (c - h), s.stop - (c - h)) for s, c, h in zip(box, centre, half)]
            channel = distance[b, 0 if click.positive else 1, box[0], box[1], box[2]]
            torch.minimum(channel, local[j, 0, inner[0], inner[1], inner[2]], out=channel)
        return distance

    def _set_action_zone(self, zone: torch.Tensor) -> None:
        """Where agents may raise and lower p in this interaction, from the (B, 2, D, H, W) bool zones of its
        [positive, negative] clicks (each zone both ways unless ``config.act_one_way``)."""
        positive, negative = zone[:, :1], zone[:, 1:]
        if self.config.act_one_way:
            self.may_raise, self.may_lower = positive, negative
        else:
            self.may_raise = self.may_lower = positive | negative

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply one action per agent and return the next state and the per-voxel reward.

        Args:
            actions: int64 action indices in [0, A): (B, N) per agent; per-voxel agents also accept
                a (B, D, H, W) or (B, 1, D, H, W) map.

        Returns:
            ``(state, reward_map)``: the next state (B, 4, D, H, W) float32 and the reward
            (B, 1, D, H, W) float32: the relative cross-entropy gain, plus the task rewards the config
            asks for (:func:`medrl.env.rewards.mixture.step_reward`), times the voxel weights (0 where the target is
            unknown); plus the weighted verdict gain where a verdict map was given.
        """
        p_prev, log_likelihood_prev = self.p, self._log_likelihood
        self.move(actions)
        reward_map, self._log_likelihood = step_reward(
            self.config.reward, p_prev, self.p, self.target, self.valid, self.weight, self.spacing, self.config.eps,
            self.verdict_target, self._max_step(), log_likelihood_prev=log_likelihood_prev)
        return self.state(), reward_map

    def move(self, actions: torch.Tensor) -> None:
        """Apply one action per agent without computing a reward (greedy inference needs none); ``actions`` as in
        :meth:`step`."""
        voxel_actions = self.agents.broadcast(actions.reshape(actions.shape[0], 1, -1))
        self.p = self._within_zone(self.p, self.actions.apply(self.p, voxel_actions))
        self._log_likelihood = None  # p changed: the next step computes its log-likelihood itself

    def _within_zone(self, p: torch.Tensor, p_next: torch.Tensor) -> torch.Tensor:
        """``p_next`` where the action zone allows its change from ``p`` (everywhere without a zone), else ``p``."""
        if self.may_raise is None:
            return p_next
        allowed = torch.where(p_next > p, self.may_raise, self.may_lower)
        return torch.where(allowed, p_next, p)

    # ------------------------------------------------------------------------------ agent views
    def agent_valid(self) -> torch.Tensor:
        """(B, N) bool: agents with at least one voxel whose target or verdict is known (and, with an action
        zone, that may act in this interaction)."""
        known = self.known if self.may_raise is None else self.known & (self.may_raise | self.may_lower)
        return self.agents.pool(known.float())[:, 0] > 0

    def agent_wrong(self) -> torch.Tensor:
        """(B, N) bool: agents whose current mask disagrees with the reward's target (a region's: on most of its
        known voxels)."""
        wrong = (to_mask(self.p) != (self.target >= 0.5)).float()
        return self.agents.pool(wrong, self.known)[:, 0] > 0.5

    def agent_rewards(self, reward_map: torch.Tensor) -> torch.Tensor:
        """(B, N) float32 agent rewards: a region's is the mean reward of its known voxels."""
        return self.agents.pool(reward_map, self.known)[:, 0]

    def oracle_actions(self) -> torch.Tensor:
        """(B, N) int64: each agent's action with the highest immediate (mean) reward from here (the
        CE gain, and the verdict gain where verdicts are given; task rewards are not scored)."""
        fast = isinstance(self.agents, VoxelAgents) and self.actions.has_both_directions and self._binary_target()
        if fast and self.verdict_target is None:
            return self.actions.oracle_towards_binary_target(self.target, self.valid, self.weight).flatten(1)
        rewards = self.actions.action_rewards(self.p, self.target, self.valid, self.weight, self.config.eps)
        if self.verdict_target is not None:
            verdicts = weighted_verdict_gain(self.config.reward, self.p, self.actions.candidates(self.p), self.verdict_target,
                                             self._max_step())
            rewards = rewards.mul_(self.config.reward.ce_gain).add_(verdicts)
        return self.actions.best_action(self.agents.pool(rewards, self.known), dim=1)

    def _binary_target(self) -> bool:
        return bool(((self.target == 0) | (self.target == 1)).all())

    # --------------------------------------------------------------------------------- measures
    def mask(self) -> torch.Tensor:
        """(B, 1, D, H, W) bool: the current mask p ≥ 0.5."""
        return to_mask(self.p)

    def dice(self) -> torch.Tensor:
        """(B,) float32 Dice of the current mask against the label, within ``label_valid``.

        Empty label and empty mask give 1, empty label and non-empty mask 0; NaN without a label, and
        for a volume where no voxel of the label is known.
        """
        if self.label is None:
            return torch.full((self.p.shape[0],), float("nan"), device=self.p.device)
        return known_dice(self.mask(), self.label, self.label_valid)

    # -------------------------------------------------------------------------------- internals
    def _robot_clicks(self) -> list[list[Click]]:
        """The robot clinician's clicks on the errors against the known target (none where only verdicts are known)."""
        if self.label is None and not self.clinician_mask.any() and self.verdict is None:
            raise MedrlInputError("label", "the robot clinician needs a label or corrections to click; pass clicks instead")
        return robot_round(self.mask(), self.target, self.spacing, self.config.clicks_per_interaction, self.valid, self.rng)

    def _refresh_target(self) -> None:
        """Forget the reward's target after the clinician's labels changed: it is recomputed when first needed (a
        reward, the oracle, the robot's clicks), so greedy inference, which needs none, never computes it."""
        self._reward_target: _RewardTarget | None = None
        self._log_likelihood = None

    def _target_parts(self) -> _RewardTarget:
        """The reward's target, valid mask, weight, verdict target and known mask, computed once per clinician change."""
        if self._reward_target is None:
            target, valid, weight = reward_target(
                self.label, self.clinician_label, self.clinician_mask, self.config.clinician_weight, self.label_valid
            )
            if self.config.boundary_gain > 0:
                targets = (target * valid)[:, 0].cpu().numpy()
                boundary = np.stack([
                    boundary_weight(t, s, self.config.boundary_gain, self.config.boundary_sigma_mm)
                    for t, s in zip(targets, self.spacing)
                ])
                weight = weight * torch.from_numpy(boundary).to(weight.device).unsqueeze(1)
            verdict_target, known = None, valid
            if self.verdict is not None:  # a clinician's mark overrides the verdict on its voxel
                verdict_target = self.verdict.masked_fill(self.clinician_mask, 0.0)
                known = valid | (verdict_target != 0)
            self._reward_target = _RewardTarget(target, valid, weight, verdict_target, known)
        return self._reward_target

    @property
    def target(self) -> torch.Tensor:
        """(B, 1, D, H, W) float32 {0, 1}: the reward's target (the label, overridden by clinician labels)."""
        return self._target_parts().target

    @property
    def valid(self) -> torch.Tensor:
        """(B, 1, D, H, W) bool: where the reward's target is known."""
        return self._target_parts().valid

    @property
    def weight(self) -> torch.Tensor:
        """(B, 1, D, H, W) float32 voxel weights of the reward, 0 where the target is unknown."""
        return self._target_parts().weight

    @property
    def verdict_target(self) -> torch.Tensor | None:
        """(B, 1, D, H, W) float32 in [−1, 1]: the signed verdict map where no clinician marked the voxel, or ``None``."""
        return self._target_parts().verdict_target

    @property
    def known(self) -> torch.Tensor:
        """(B, 1, D, H, W) bool: where a target or a verdict is known."""
        return self._target_parts().known

    def _max_step(self) -> float:
        """The largest action's probability change (a full-size step earns a verdict of ±1)."""
        return max((abs(d) for d in self.config.deltas), default=0.0) or 1.0
