"""medrl: refine 3D medical segmentation masks with multi-agent reinforcement learning.

Every voxel (or supervoxel region) is an agent; all agents share one fully convolutional policy
that nudges each voxel's foreground probability towards the truth, steered by a clinician's clicks
and brush strokes. See README.md for the user-facing commands.
"""

__version__ = "0.1.0"
