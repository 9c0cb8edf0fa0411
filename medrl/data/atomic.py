"""Atomic file writing: write to a temporary name beside the target, then rename.

A crash or a kill while writing leaves at most a hidden ``.<name>.medrl-tmp-*`` file, never a
half-written output under the real name. ``os.replace`` is atomic on POSIX and Windows when both
names are on the same file system, which they are, since the temporary file sits beside the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from medrl.errors import MedrlInputError


def _default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give: 0o666 less the process umask (read once)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# mkstemp creates 0o600 files; outputs get the usual mode instead, so a research group can share them
_FILE_MODE = _default_file_mode()


def refuse_to_overwrite(path: str | os.PathLike, overwrite: bool, inputs: tuple = ()) -> Path:
    """Check that ``path`` may be written; return it as a ``Path``.

    Raises:
        MedrlInputError: if ``path`` is one of ``inputs`` (inputs are never overwritten, whatever
            ``overwrite`` says), or exists and ``overwrite`` is False.
    """
    path = Path(path)
    for source in inputs:
        if source is not None and Path(source).exists() and path.exists() and os.path.samefile(path, source):
            raise MedrlInputError(path, "refusing to overwrite an input file; choose another output path")
    if path.exists() and not overwrite:
        raise MedrlInputError(path, "output exists; pass overwrite=True (CLI: --overwrite) to replace it")
    return path


def _suffixes(path: Path) -> str:
    """Keep compound suffixes such as ``.nii.gz`` so writers that pick a format by name still work."""
    return "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    Example:
        >>> with atomic_path(out_file) as tmp:          # doctest: +SKIP
        ...     nib.save(img, tmp)                      # written under a hidden temporary name
        >>> # out_file now exists, complete
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.medrl-tmp-", suffix=_suffixes(path), dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 (whatever the locale says) through :func:`atomic_path`; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
