"""Methods compared by ``medrl evaluate``: anything that turns a starting mask and clinician clicks into
a refined probability map, behind one small interface.

A method is any object with a ``name`` and two calls (:class:`Method`); the robot-clinician protocol
(:func:`medrl.evaluation.protocol.play_robot_protocol`) holds the state between interactions, so a
method can be stateless. Shapes: the working grid (X, Y, Z) of an :class:`EvaluationCase`;
probability maps are float32 CPU tensors in [0, 1], and a voxel is foreground when p ≥ 0.5.

Built in:

- :class:`KeepInitial` (``"initial"``): the starting mask, kept whatever the clicks — the baseline
  every refinement must beat;
- :class:`RefinementAgents`: medrl's agents from a checkpoint (per-voxel or per-region, whichever the
  checkpoint holds), refining around each interaction's clicks exactly as ``medrl predict`` and the
  review session do (:meth:`medrl.inference.refiner.Refiner.refine`);
- :class:`ClickNetwork`: the supervised baseline, a DeepEdit-style click-refinement network
  (:class:`medrl.training.click_network.ClickNetworkModule`) from its checkpoint;
- :class:`Brush` (``"brush"``): a clinician with a brush instead of agents: each click paints (positive)
  or erases (negative) the largest ball around it that stays inside its error component — it reads the
  truth to size the ball, so it never marks a voxel wrongly.

A new method is one class, e.g. one that only paints the clicked voxels::

    class PaintClicks:
        name = "paint-clicks"

        def start(self, case, initial):
            return initial.float()

        def interact(self, case, probability, previous_clicks, new_clicks):
            p = probability.clone()
            for click in new_clicks:
                p[click.index] = float(click.positive)
            return p
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch

from medrl.env.clicks import Click, brush_radius_mm, click_ball
from medrl.env.state import soft_start
from medrl.errors import MedrlInputError
from medrl.evaluation.cases import EvaluationCase
from medrl.models.checkpoint import Checkpoint
from medrl.models.click_net import ClickEncoding, build_click_net, interact


@runtime_checkable
class Method(Protocol):
    """The interface of an evaluated method.

    Attributes:
        name: the method's name in tables, CSV files and plots (unique within a run).
    """

    name: str

    def start(self, case: EvaluationCase, initial: torch.Tensor) -> torch.Tensor:
        """The method's probability map before any click.

        Args:
            case: the prepared case.
            initial: (X, Y, Z) float32 starting mask in [0, 1] (binary, or another model's probabilities).

        Returns:
            (X, Y, Z) float32 in [0, 1] whose mask (p ≥ 0.5) is the starting mask's.
        """
        ...

    def interact(self, case: EvaluationCase, probability: torch.Tensor, previous_clicks: Sequence[Click],
                 new_clicks: Sequence[Click]) -> torch.Tensor:
        """One interaction: the clinician adds ``new_clicks``; return the next probability map.

        Args:
            case: the prepared case.
            probability: (X, Y, Z) float32 in [0, 1], this method's map after the previous interaction
                (or :meth:`start`'s).
            previous_clicks: clicks of earlier interactions (working-grid voxel indices), oldest first.
            new_clicks: this interaction's clicks (at least one).

        Returns:
            (X, Y, Z) float32 in [0, 1] on the CPU.
        """
        ...


class KeepInitial:
    """The baseline that ignores every click: the starting mask is the answer after each interaction."""

    name = "initial"

    def start(self, case: EvaluationCase, initial: torch.Tensor) -> torch.Tensor:
        return initial.float()

    def interact(self, case: EvaluationCase, probability: torch.Tensor, previous_clicks: Sequence[Click],
                 new_clicks: Sequence[Click]) -> torch.Tensor:
        return probability


class Brush:
    """Each click paints or erases the largest ball around it inside its error component
    (:func:`medrl.env.clicks.brush_radius_mm`, which reads ``case.label``); nothing else changes."""

    name = "brush"

    def start(self, case: EvaluationCase, initial: torch.Tensor) -> torch.Tensor:
        return initial.float()

    def interact(self, case: EvaluationCase, probability: torch.Tensor, previous_clicks: Sequence[Click],
                 new_clicks: Sequence[Click]) -> torch.Tensor:
        p = probability.clone()
        mask = (p >= 0.5).numpy()
        for click in new_clicks:
            radius = brush_radius_mm(mask, case.label, click, case.spacing)
            ball = click_ball(click, p.shape, case.spacing, radius)
            p[ball] = float(click.positive)
            mask = (p >= 0.5).numpy()
        return p


class RefinementAgents:
    """medrl's refinement agents of one checkpoint.

    The starting mask enters by the checkpoint's soft start (0.75 inside / 0.25 outside by default);
    each interaction runs ``Refiner.refine`` around the new clicks, continuing from the agents' own
    probabilities, with earlier clicks kept as hints and every clicked voxel keeping the clinician's label.

    Args:
        refiner: a :class:`medrl.inference.refiner.Refiner` whose checkpoint holds a policy.
        name: the method's name (e.g. ``"voxel"`` / ``"region"`` when comparing agent kinds).
        steps: agent steps per interaction (default: the checkpoint's S).
    """

    def __init__(self, refiner, name: str = "medrl", steps: int | None = None):
        self.refiner, self.name, self.steps = refiner, name, steps

    def start(self, case: EvaluationCase, initial: torch.Tensor) -> torch.Tensor:
        return soft_start(initial, *self.refiner.soft_start)

    def interact(self, case: EvaluationCase, probability: torch.Tensor, previous_clicks: Sequence[Click],
                 new_clicks: Sequence[Click]) -> torch.Tensor:
        refined = self.refiner.refine(case.data, probability, list(new_clicks), steps=self.steps,
                                      previous_clicks=list(previous_clicks), resume=True)
        return refined[0, 0]


class ClickNetwork:
    """A supervised click-refinement network (DeepEdit-style) of one checkpoint.

    It starts from the starting mask itself; each interaction turns all clicks so far into hint maps on
    the working grid (Gaussians in mm, as in training), runs the network on [image, previous, h+, h−]
    in sliding windows of its training ``roi_size`` over the whole case, and sets every clicked voxel
    to its click's label (:func:`medrl.models.click_net.interact`).

    Args:
        checkpoint: a checkpoint (:class:`medrl.models.checkpoint.Checkpoint`) with a click network.
        name: the method's name in reports.
        device: where the network's windows run (volumes stay on the CPU).
        overlap: sliding-window overlap fraction.
    """

    def __init__(self, checkpoint: Checkpoint, name: str = "supervised", device: str | torch.device = "cpu",
                 overlap: float = 0.25):
        part = checkpoint.click_network
        self.name, self.device, self.overlap = name, torch.device(device), overlap
        self.net = build_click_net(**part.architecture)
        self.net.load_state_dict(part.weights(checkpoint.state_dict))
        self.net.to(self.device).eval()
        self.encoding = ClickEncoding(**part.extras["encoding"])
        self.roi_size = part.roi_size

    @classmethod
    def from_checkpoint(cls, path, name: str = "supervised", device: str | torch.device = "cpu", **kwargs) -> "ClickNetwork":
        """Load a click network's checkpoint as data (weights only).

        Raises:
            MedrlInputError: unreadable or foreign file, or a checkpoint without a click network.
        """
        checkpoint = Checkpoint.load(path)
        if checkpoint.click_network is None:
            raise MedrlInputError(path, "checkpoint has no click network (train one with configs/click_network.yaml)")
        return cls(checkpoint, name, device, **kwargs)

    def start(self, case: EvaluationCase, initial: torch.Tensor) -> torch.Tensor:
        return initial.float()

    def interact(self, case: EvaluationCase, probability: torch.Tensor, previous_clicks: Sequence[Click],
                 new_clicks: Sequence[Click]) -> torch.Tensor:
        image = case.data["image"]
        image = (image.as_tensor() if hasattr(image, "as_tensor") else torch.as_tensor(image)).float()[None]
        refined = interact(self.net, image, probability.float()[None, None], [[*previous_clicks, *new_clicks]],
                           [case.spacing], self.encoding, self.roi_size, self.overlap, window_device=self.device)
        return refined[0, 0]
