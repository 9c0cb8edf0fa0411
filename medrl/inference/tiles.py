"""Where the agents act at inference, and in which pieces, so memory stays bounded on whole CTs.

* **Region.** After clicks, the agents refine a box around the new clicks: each click's hint map
  reach (4σ, where the hint has fallen below 4e-4) and at least one policy window on each side. Farther
  away a click cannot change what the agents see, and the clinician's mask there is kept as it was.
  Agents with an action zone (``EnvConfig.act_within_mm``) may change nothing farther from a click than
  the zone's radius, so their region is the zones' box: the policy then runs on that box and its halo only,
  whatever the size of the scan. Without clicks, or when the boxes cover most of the scan, the region is
  the whole scan.
* **Tiles.** The region is cut into tiles of at most ``tile_edge`` voxels per side. Each tile is
  refined with a ``halo`` of context around it (the policy sees real neighbours, not padding) and
  only its core is kept, so results do not depend on the tiling beyond the policy's own windows.
  A 512×512×300 CT thus never needs the agents' state for the whole volume at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from medrl.env.clicks import HINT_REACH_SIGMAS, Click

WHOLE_SCAN_SHARE = 0.5


@dataclass(frozen=True)
class Box:
    """A box of voxels [start, stop) along the three axes."""

    start: tuple[int, int, int]
    stop: tuple[int, int, int]

    @classmethod
    def whole(cls, shape: Sequence[int]) -> "Box":
        return cls((0, 0, 0), tuple(int(s) for s in shape))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop))

    @property
    def voxels(self) -> int:
        return math.prod(self.shape)

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))

    def grown(self, margin: Sequence[int], shape: Sequence[int]) -> "Box":
        """This box with ``margin`` voxels more on each side, clipped to a volume of ``shape``."""
        return Box(tuple(max(0, a - m) for a, m in zip(self.start, margin)),
                   tuple(min(s, b + m) for b, m, s in zip(self.stop, margin, shape)))

    def union(self, other: "Box") -> "Box":
        return Box(tuple(map(min, self.start, other.start)), tuple(map(max, self.stop, other.stop)))

    def within(self, outer: "Box") -> tuple[slice, ...]:
        """This box's slices relative to ``outer``'s start (``outer`` must contain it)."""
        return tuple(slice(a - o, b - o) for a, b, o in zip(self.start, self.stop, outer.start))


def bounding_box(mask: torch.Tensor) -> Box | None:
    """The smallest box holding every true voxel of a (X, Y, Z) bool mask, or ``None`` when it has none."""
    indices = torch.nonzero(mask)
    if indices.numel() == 0:
        return None
    return Box(tuple(int(v) for v in indices.min(dim=0).values), tuple(int(v) + 1 for v in indices.max(dim=0).values))


def click_reach(spacing: Sequence[float], hint_sigma_mm: float, window: Sequence[int],
                act_within_mm: float = 0.0) -> tuple[int, int, int]:
    """Half-size in voxels, per axis, of the box a click can change.

    Without an action zone (``act_within_mm`` 0): the hint's reach (``HINT_REACH_SIGMAS``·σ in mm) and at
    least half a policy window. With one: the widest zone's radius (``EnvConfig.zone_reach_mm``; a click's
    zone is never wider; the environment keeps every farther voxel as it was)."""
    if act_within_mm > 0:
        return tuple(math.ceil(act_within_mm / s) for s in spacing)
    return tuple(max(int(w) // 2, math.ceil(HINT_REACH_SIGMAS * hint_sigma_mm / s)) for s, w in zip(spacing, window))


def refinement_region(shape: Sequence[int], clicks: Sequence[Click], reaches: Sequence[Sequence[int]]) -> Box:
    """The box the agents refine: around ``clicks`` (each ± its ``reaches`` entry, voxels per axis), or the whole
    scan when there are no clicks or the box would cover more than ``WHOLE_SCAN_SHARE`` of it."""
    whole = Box.whole(shape)
    if not clicks:
        return whole
    boxes = [Box(click.index, tuple(i + 1 for i in click.index)).grown(reach, shape) for click, reach in zip(clicks, reaches)]
    region = boxes[0]
    for box in boxes[1:]:
        region = region.union(box)
    return whole if region.voxels > WHOLE_SCAN_SHARE * whole.voxels else region


def tiles(region: Box, shape: Sequence[int], tile_edge: int, halo: Sequence[int]) -> Iterator[tuple[Box, Box]]:
    """Cut ``region`` into near-equal tiles of at most ``tile_edge`` voxels per side.

    Yields:
        ``(core, context)``: the core box (tiles' cores partition ``region``) and the core grown by
        ``halo`` voxels per side, clipped to the volume of ``shape``.
    """
    counts = [max(1, math.ceil(n / tile_edge)) for n in region.shape]
    cuts = [[a + (n * k) // c for k in range(c + 1)] for a, n, c in zip(region.start, region.shape, counts)]
    for i in range(counts[0]):
        for j in range(counts[1]):
            for k in range(counts[2]):
                core = Box((cuts[0][i], cuts[1][j], cuts[2][k]), (cuts[0][i + 1], cuts[1][j + 1], cuts[2][k + 1]))
                yield core, core.grown(halo, shape)


def shifted(clicks: Sequence[Click], offset: Sequence[int]) -> list[Click]:
    """Clicks in the coordinates of a box starting at ``offset`` (they may fall outside it: their
    hints still reach in)."""
    return [Click(tuple(i - o for i, o in zip(click.index, offset)), click.positive) for click in clicks]
