"""The one exception type for problems with what a user gave medrl.

The CLI turns a :class:`MedrlInputError` into one line on stderr, ``medrl: error: <file>: <problem>``,
and exit status 2, with no traceback. Library code raises it for bad input files, bad datasets and bad
options; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class MedrlInputError(Exception):
    """A user-facing error about one input: the file (or option) it concerns, and the problem.

    Args:
        source: the file, folder or option the problem is about (``None`` if none applies).
        problem: one sentence saying what is wrong, without a trailing period.

    Example:
        >>> str(MedrlInputError("scan.nii.gz", "file is empty"))
        'scan.nii.gz: file is empty'
    """

    def __init__(self, source: str | os.PathLike | None, problem: str):
        self.source = None if source is None else os.fspath(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)
