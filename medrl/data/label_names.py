"""Names of the structures in a multi-label map, and choosing structures by value or name.

Where names come from, first found wins (:func:`find_label_names`):

1. a sidecar the user names (``--label-names FILE``): an nnU-Net / Medical Segmentation Decathlon
   ``dataset.json`` (``"labels": {"liver": 1}`` in nnU-Net v2, ``{"1": "liver"}`` in v1 and the Decathlon),
   a plain labels JSON in either direction, or an ITK-SNAP label description file (``.txt``);
2. the names stored in the mask itself: a NIfTI header extension with a label table (TotalSegmentator's
   ``--ml`` output and other CIFTI/Caret-style writers), or a Slicer ``.seg.nrrd``'s segment names;
3. a ``dataset.json`` beside the mask (nnU-Net's ``predict`` copies it into its output folder).

Names compare without case and with ``_``, ``-`` and spaces alike (``Kidney Left`` is ``kidney_left``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from medrl.errors import MedrlInputError

BACKGROUND_NAMES = ("background", "clear label", "unlabeled", "unlabelled")


def name_key(name: str) -> str:
    """A structure name compared loosely: lower case, ``_``/``-``/spaces as one ``_``."""
    return re.sub(r"[\s_\-]+", "_", str(name).strip().lower())


@dataclass(frozen=True)
class LabelNames:
    """Structure names of one label map: ``names`` maps each label value (> 0) to its name.

    ``source`` says where the names were read (a file, or ``"none"`` when no names were found).
    """

    names: dict[int, str] = field(default_factory=dict)
    source: str = "none"

    def name_of(self, value: int) -> str:
        """The structure's name, or ``label N`` when it has none."""
        return self.names.get(int(value), f"label {int(value)}")

    def value_of(self, key: int | str, present: Sequence[int], where: str) -> int:
        """The label value a user's ``key`` (a value, a digit string or a name) means.

        Raises:
            MedrlInputError: a value not in the map or a name not among the names (``where`` names the file).
        """
        if isinstance(key, (int, np.integer)) or str(key).strip().isdigit():
            value = int(key)
            if value not in present:
                raise MedrlInputError(where, f"label {value} is not in the map (its labels: {_short(present)})")
            return value
        wanted = name_key(key)
        matches = [value for value, name in self.names.items() if name_key(name) == wanted]
        if not matches:
            known = ", ".join(sorted(self.names.values())[:12]) or f"none: no label names found ({self.source})"
            raise MedrlInputError(where, f"no structure named {key!r} (names: {known}{', ...' if len(self.names) > 12 else ''})")
        if matches[0] not in present:
            raise MedrlInputError(where, f"structure {key!r} (label {matches[0]}) has no voxels in the map")
        return matches[0]


def _short(values: Sequence[int]) -> str:
    values = list(values)
    return ", ".join(str(v) for v in values[:20]) + (", ..." if len(values) > 20 else "") if values else "none"


def choose_labels(spec: str, names: LabelNames, present: Sequence[int], where: str) -> list[int]:
    """The label values ``spec`` chooses: ``all`` (every non-zero value present), or a comma-separated
    list of values and names (``3``, ``liver``, ``liver,spleen,7``). Order is kept, repeats are dropped."""
    present = sorted(int(v) for v in present if v != 0)
    if spec.strip().lower() == "all":
        if not present:
            raise MedrlInputError(where, "the map has no labelled voxels")
        return present
    chosen = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise MedrlInputError("--label", f"empty entry in {spec!r}; give values or names separated by commas")
        value = names.value_of(part, present, where)
        if value not in chosen:
            chosen.append(value)
    return chosen


# ---------------------------------------------------------------------------------------- readers
def names_from_document(document: object, source: str) -> LabelNames:
    """Names from a parsed JSON: a dataset.json with ``labels``, or a labels mapping in either direction.

    Raises:
        MedrlInputError: a mapping that is neither value->name nor name->value, or nnU-Net region labels.
    """
    labels = document.get("labels", document) if isinstance(document, dict) else None
    if not isinstance(labels, dict) or not labels:
        raise MedrlInputError(source, 'no label names: expected {"labels": {"liver": 1, ...}} or {"1": "liver", ...}')
    names = {}
    for key, value in labels.items():
        if isinstance(value, (list, tuple)):
            raise MedrlInputError(source, f"label {key!r} is an nnU-Net region ({value}); give one value per structure")
        if str(key).strip().lstrip("-").isdigit() and isinstance(value, str):
            names[int(key)] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            names[value] = str(key)
        elif isinstance(value, str) and value.strip().isdigit():
            names[int(value)] = str(key)
        else:
            raise MedrlInputError(source, f"label entry {key!r}: {value!r} is neither value->name nor name->value")
    return LabelNames({v: n for v, n in names.items() if v > 0 and name_key(n) not in BACKGROUND_NAMES}, source)


def names_from_itksnap(text: str, source: str) -> LabelNames:
    """Names from an ITK-SNAP label description file (``IDX R G B A VIS MSH "LABEL"`` per line)."""
    names = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = shlex.split(line)
        if len(fields) < 8 or not fields[0].isdigit():
            raise MedrlInputError(source, f"line {number}: expected IDX R G B A VIS MSH \"LABEL\", got {line.strip()[:60]!r}")
        if int(fields[0]) > 0:
            names[int(fields[0])] = fields[7]
    return LabelNames(names, source)


def read_label_names(path: str | os.PathLike) -> LabelNames:
    """Names from a sidecar file: a dataset.json or labels JSON, or an ITK-SNAP label file (``.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise MedrlInputError(path, "label names file not found")
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".txt":
        return names_from_itksnap(text, str(path))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise MedrlInputError(path, f"not valid JSON ({error})") from None
    return names_from_document(document, str(path))


def names_from_nifti_extensions(path: str | os.PathLike) -> LabelNames | None:
    """Names from a NIfTI header extension holding a label table (``<Label Key="1">liver</Label>``), or ``None``."""
    import nibabel as nib

    try:
        extensions = nib.load(path).header.extensions
    except Exception:  # not a NIfTI, or unreadable: the reader reports that
        return None
    for extension in extensions:
        content = extension.get_content()
        text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else str(content)
        if "<Label" not in text:
            continue
        try:
            root = ElementTree.fromstring(text.strip().rstrip("\x00").strip())
        except ElementTree.ParseError:
            continue
        names = {int(label.get("Key")): (label.text or "").strip() for label in root.iter("Label")
                 if (label.get("Key") or "").isdigit() and int(label.get("Key")) > 0}
        if names:
            return LabelNames(names, f"{os.fspath(path)} (header extension)")
    return None


def find_label_names(mask_path: str | os.PathLike | None, sidecar: str | os.PathLike | None = None,
                     embedded: LabelNames | None = None) -> LabelNames:
    """The names of ``mask_path``'s structures, by the order in the module docstring.

    Args:
        mask_path: the multi-label map.
        sidecar: a names file the user gave (wins).
        embedded: names the map's reader found in the file (e.g. a ``.seg.nrrd``'s segments).
    """
    if sidecar is not None:
        return read_label_names(sidecar)
    if embedded is not None and embedded.names:
        return embedded
    if mask_path is not None and Path(mask_path).name.lower().endswith((".nii", ".nii.gz")):
        found = names_from_nifti_extensions(mask_path)
        if found is not None:
            return found
    if mask_path is not None:
        beside = Path(mask_path).parent / "dataset.json"
        if beside.is_file():
            try:
                return read_label_names(beside)
            except MedrlInputError:
                pass  # a dataset.json without usable labels: no names rather than a failed run
    return LabelNames()


def present_labels(label_map: np.ndarray | Iterable[int]) -> list[int]:
    """The non-zero values of an integer label map, ascending."""
    values = np.unique(np.asarray(label_map))
    return [int(v) for v in values if v != 0]
