"""Load the four sequences of one case as a validated, canonical (RAS+) LoadedCase."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.pipeline.io.nifti import NiftiVolume, check_same_grid, inspect_nifti

log = logging.getLogger(__name__)

MAX_NONFINITE_FRACTION = 0.001
"""Up to this fraction of NaN / infinite voxels is replaced by 0; more is refused."""

MIN_NONZERO_FRACTION = 0.01
"""A skull-stripped brain scan has at least this fraction of non-zero voxels."""


def percent(fraction: float) -> str:
    """Return a fraction as a readable percentage: 1.0 -> "100%", 0.0042 -> "0.42%".

    Two significant digits below 10%, whole numbers above (never "1e+02%"). Refuses nothing.
    """
    value = 100 * float(fraction)
    if value >= 10:
        return f"{value:.0f}%"
    return f"{value:.2g}%"


def validate_volume(
    data: np.ndarray,
    refuse: NiftiVolume,
    *,
    where: str = "",
    max_nonfinite: float = MAX_NONFINITE_FRACTION,
    min_nonzero: float = MIN_NONZERO_FRACTION,
) -> np.ndarray:
    """Return ``data`` with a few non-finite voxels set to 0 (in place), or refuse it.

    Refuses (InvalidInputError naming ``refuse``'s file) more than ``max_nonfinite`` NaN/infinite
    voxels, an all-zero image, a constant image, and fewer than ``min_nonzero`` non-zero voxels
    ("no plausible brain"). ``where`` is appended to the reason (e.g. " in axial slices 70–74").
    """
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            fraction = n_bad / data.size
            if fraction > max_nonfinite:
                raise refuse.refusal(
                    f"{percent(fraction)} of the voxels{where} are not numbers "
                    "(NaN or infinite); the file is probably corrupt"
                )
            log.info("%s: %d non-finite voxels set to 0", refuse.path, n_bad)
            data[bad] = 0
    lo, hi = float(data.min()), float(data.max())
    if lo == hi == 0:
        raise refuse.refusal(f"the image is empty (all voxels are zero{where})")
    if lo == hi:
        raise refuse.refusal(f"the image is blank (every voxel{where} has the same value, {lo:g})")
    nonzero = np.count_nonzero(data) / data.size
    if nonzero < min_nonzero:
        raise refuse.refusal(
            f"only {percent(nonzero)} of the voxels{where} are non-zero; "
            "this does not look like a "
            "brain scan (a skull-stripped brain fills well over 1% of the image)"
        )
    return data


@dataclass(eq=False)
class LoadedCase:
    """One case in canonical RAS+ orientation: FLAIR in memory, the other three read on demand."""

    flair: np.ndarray
    affine: np.ndarray
    voxel_size: tuple[float, float, float]
    shape: tuple[int, int, int]
    paths: dict[str, Path] = field(default_factory=dict)
    _sources: dict[str, NiftiVolume] = field(default_factory=dict, repr=False)
    _volumes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def _check_sequence(self, sequence: str) -> None:
        if sequence not in SEQUENCES:
            raise ValueError(f"unknown sequence {sequence!r}; expected one of {SEQUENCES}")

    def volume(self, sequence: str) -> np.ndarray:
        """Return the whole canonical float32 volume (X, Y, Z) of ``sequence`` (validated, cached).

        Raises InvalidInputError when that file cannot be read or fails the content checks of
        :func:`validate_volume`; ValueError for an unknown sequence name.
        """
        self._check_sequence(sequence)
        if sequence == "flair":
            return self.flair
        if sequence not in self._volumes:
            source = self._sources[sequence]
            self._volumes[sequence] = validate_volume(source.read(), source)
        return self._volumes[sequence]

    def axial_slices(self, sequence: str, indices: list[int] | np.ndarray) -> np.ndarray:
        """Return canonical axial slices of ``sequence`` as float32 (X, Y, len(indices)).

        Non-FLAIR sequences not yet loaded are read lazily (only the slab spanning ``indices``) and
        the returned slices are content-checked (refusing all-zero / constant / non-finite data with
        InvalidInputError naming the file). ValueError for out-of-range indices or unknown names.
        """
        self._check_sequence(sequence)
        idx = np.asarray(indices, dtype=int).ravel()
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.shape[2]:
            raise ValueError(f"axial indices {idx.tolist()} out of range 0..{self.shape[2] - 1}")
        if sequence == "flair" or sequence in self._volumes:
            return np.ascontiguousarray(self.volume(sequence)[:, :, idx])
        source = self._sources[sequence]
        slab = source.read_axial(idx)
        where = (
            f" in axial slices {idx.min()}–{idx.max()}" if idx.size > 1 else f" in slice {idx[0]}"
        )
        return validate_volume(slab, source, where=where)


def load_case(paths: dict[str, str | os.PathLike], *, lazy: bool = True) -> LoadedCase:
    """Load one case (the four sequences) and return it as a validated canonical LoadedCase.

    Every file is header-checked (see ``nifti_io.inspect_nifti``) and the four must share FLAIR's
    grid (``nifti_io.check_same_grid``: differing grids are refused, not resampled). FLAIR is read
    fully, scaled, reoriented to RAS+ and content-checked (``validate_volume``). With ``lazy`` the
    other three are only opened; their voxels are read and checked when ``axial_slices`` or
    ``volume`` asks for them; with ``lazy=False`` all four are read and checked now.
    Raises InvalidInputError (with the sequence at fault) for a missing slot or any refusal.
    """
    unknown = set(paths) - set(SEQUENCES)
    if unknown:
        raise ValueError(f"unknown sequence keys {sorted(unknown)}; expected {SEQUENCES}")
    for sequence in SEQUENCES:
        if sequence not in paths or paths[sequence] is None:
            raise InvalidInputError(
                f"{SEQUENCE_LABELS[sequence]}: the file is missing (all four sequences are needed)",
                sequence,
            )
    resolved = {seq: Path(paths[seq]) for seq in SEQUENCES}
    infos = {seq: inspect_nifti(resolved[seq], seq, check_data=False) for seq in SEQUENCES}
    check_same_grid(infos)
    sources = {seq: NiftiVolume(resolved[seq], seq) for seq in SEQUENCES}
    flair_src = sources["flair"]
    flair = validate_volume(flair_src.read(), flair_src)
    case = LoadedCase(
        flair=flair,
        affine=flair_src.affine,
        voxel_size=flair_src.voxel_size,
        shape=(flair.shape[0], flair.shape[1], flair.shape[2]),
        paths=resolved,
        _sources=sources,
    )
    if not lazy:
        for sequence in SEQUENCES[1:]:
            case.volume(sequence)
    return case
