"""NIfTI reading: fast upload inspection, the one grid check, and canonical (RAS+) loading.

Everything here works in the *closest canonical* orientation (RAS+, nibabel's
``as_closest_canonical`` convention): increasing indices go towards the patient's Right, Anterior
and Superior, so "axial slice k" means ``volume[:, :, k]`` whatever the file's storage order. Files
stored in LPS or with swapped axes therefore give the same arrays as their RAS twin.

Geometry reported by :class:`VolumeInfo` is the canonical geometry, so two files holding the same
world grid in different storage orders compare equal in :func:`check_same_grid`.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCE_LABELS

log = logging.getLogger(__name__)

MAX_SIDE = 512
"""Largest number of voxels accepted along any axis."""

GRID_TOLERANCE_VOXELS = 0.1
"""Two grids are the same when their corners lie within this fraction of a voxel in world space."""

_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 544
_CHUNK = 1 << 20
_READ_PIECE = 16 << 20
"""Bytes of stored voxel data converted to float32 at a time by ``NiftiVolume.read``."""
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, struct.error)

_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG", "a PNG picture"),
    (0, b"\xff\xd8\xff", "a JPEG picture"),
    (0, b"GIF8", "a GIF picture"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (128, b"DICM", "a DICOM file (please convert the series to NIfTI first)"),
)


@dataclass(frozen=True, eq=False)
class VolumeInfo:
    """Canonical (RAS+) geometry and voxel type of one NIfTI file, as read from its header."""

    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]
    dtype: str
    affine: np.ndarray = field(repr=False)


def _label(sequence: str | None, path: str | os.PathLike) -> str:
    if sequence:
        return SEQUENCE_LABELS.get(sequence, sequence)
    return Path(path).name


def refusal(sequence: str | None, path: str | os.PathLike, reason: str) -> InvalidInputError:
    """Return an InvalidInputError whose message is "<sequence or file name>: <reason>"."""
    return InvalidInputError(f"{_label(sequence, path)}: {reason}", sequence)


def _fmt(values: tuple | list, unit: str = "", digits: int | None = None) -> str:
    if digits is None:
        text = "×".join(str(int(v)) for v in values)
    else:
        text = "×".join(f"{float(v):.{digits}g}" for v in values)
    return f"{text}{unit}"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _sniff(head: bytes) -> str | None:
    """Return "nifti1", "nifti2", "pair1", "pair2", "analyze" or None (not NIfTI) from a header."""
    if len(head) < 4:
        return None
    for endian in ("<", ">"):
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == 348 and len(head) >= 348:
            magic = head[344:348]
            if magic == b"n+1\x00":
                return "nifti1"
            if magic == b"ni1\x00":
                return "pair1"
            return "analyze"
        if size == 540 and len(head) >= 540:
            magic = head[4:8]
            if magic == b"n+2\x00":
                return "nifti2"
            if magic == b"ni2\x00":
                return "pair2"
    return None


def _other_format(head: bytes) -> str | None:
    for offset, magic, description in _OTHER_FORMATS:
        if head[offset : offset + len(magic)] == magic:
            return description
    return None


def _read_head(path: Path, sequence: str | None) -> tuple[bytes, bool]:
    """Return the first bytes of the (decompressed) file and whether it is gzip-compressed."""
    if not path.is_file():
        raise refusal(sequence, path, "the file is missing")
    if path.stat().st_size == 0:
        raise refusal(sequence, path, "the file is empty (0 bytes)")
    compressed = _is_gzip(path)
    try:
        if compressed:
            with gzip.open(path, "rb") as fh:
                head = fh.read(_HEAD_BYTES)
        else:
            with open(path, "rb") as fh:
                head = fh.read(_HEAD_BYTES)
    except EOFError as exc:
        raise refusal(
            sequence,
            path,
            "the compressed file is truncated (it ends too early; the upload or copy was "
            "probably interrupted)",
        ) from exc
    except (OSError, zlib.error) as exc:
        raise refusal(
            sequence, path, "the compressed file is damaged and cannot be opened"
        ) from exc
    return head, compressed


def _header_from(
    head: bytes, path: Path, sequence: str | None, compressed: bool
) -> nib.Nifti1Header:
    kind = _sniff(head)
    if kind in ("nifti1", "nifti2"):
        klass = nib.Nifti1Header if kind == "nifti1" else nib.Nifti2Header
        size = 348 if kind == "nifti1" else 540
        try:
            return klass.from_fileobj(io.BytesIO(head[:size]), check=False)
        except _READ_ERRORS + (nib.spatialimages.HeaderDataError,) as exc:
            raise refusal(sequence, path, "the NIfTI header is damaged and cannot be read") from exc
    if kind in ("pair1", "pair2"):
        raise refusal(
            sequence,
            path,
            "the file is only the header of a .hdr/.img pair; please upload a single .nii or "
            ".nii.gz file",
        )
    if kind == "analyze":
        raise refusal(
            sequence,
            path,
            "the file is an old Analyze image, not NIfTI; please convert it to .nii or .nii.gz",
        )
    reason = "the file is not a NIfTI image (.nii or .nii.gz)"
    other = _other_format(head)
    if other:
        reason += f"; it looks like {other}"
    elif compressed:
        reason = "the compressed file does not contain a NIfTI image (.nii or .nii.gz)"
    raise refusal(sequence, path, reason)


def _check_header(hdr: nib.Nifti1Header, path: Path, sequence: str | None) -> tuple[int, int, int]:
    """Refuse what no 3D MRI volume can be; return the 3 spatial dimensions (storage order)."""
    dtype = hdr.get_data_dtype()
    if dtype.kind not in "iuf":
        what = (
            "colour (RGB)"
            if dtype.kind == "V"
            else ("complex" if dtype.kind == "c" else str(dtype))
        )
        raise refusal(
            sequence,
            path,
            f"the voxels hold {what} values, not plain numbers; a greyscale MRI volume is needed",
        )
    shape = tuple(int(s) for s in hdr.get_data_shape())
    if not shape or min(shape) <= 0:
        raise refusal(sequence, path, "the image has no voxels")
    spatial = (shape + (1, 1, 1))[:3]
    if len(shape) < 3 or min(spatial) == 1:
        plane = "×".join(str(s) for s in spatial if s > 1) or "1"
        raise refusal(
            sequence,
            path,
            f"the image is 2D (a single slice of {plane} voxels); a 3D volume is needed",
        )
    volumes = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    if volumes > 1:
        raise refusal(
            sequence,
            path,
            f"the file holds {volumes} volumes (a 4D series); please upload a single 3D volume",
        )
    if max(spatial) > MAX_SIDE:
        raise refusal(
            sequence,
            path,
            f"the image is too large ({_fmt(spatial)} voxels; at most {MAX_SIDE} voxels per side)",
        )
    zooms = np.asarray(hdr.get_zooms()[:3], dtype=float)
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise refusal(sequence, path, "the voxel size in the header is missing or invalid")
    return spatial[0], spatial[1], spatial[2]


def _canonical_geometry(
    affine: np.ndarray, shape: tuple[int, int, int], path: Path, sequence: str | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Return (ornt, canonical affine, canonical shape) or refuse an unusable affine."""
    affine = np.asarray(affine, dtype=float)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise refusal(
            sequence, path, "the position/orientation information in the header is invalid"
        )
    ornt = io_orientation(affine)
    canon_affine = affine @ inv_ornt_aff(ornt, shape)
    order = np.argsort(ornt[:, 0])
    canon_shape = (int(shape[order[0]]), int(shape[order[1]]), int(shape[order[2]]))
    return ornt, canon_affine, canon_shape


def _voxel_size(affine: np.ndarray) -> tuple[float, float, float]:
    sizes = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    return float(sizes[0]), float(sizes[1]), float(sizes[2])


def _check_data_length(
    hdr: nib.Nifti1Header, path: Path, sequence: str | None, compressed: bool
) -> None:
    """Refuse files whose data are shorter than the header promises (or whose gzip is broken)."""
    needed = (
        int(hdr.get_data_offset())
        + int(np.prod(hdr.get_data_shape())) * hdr.get_data_dtype().itemsize
    )
    if not compressed:
        have = path.stat().st_size
    else:
        have = 0
        try:
            with gzip.open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    have += len(chunk)
        except EOFError as exc:
            raise refusal(
                sequence,
                path,
                "the compressed file is truncated (it ends before all the image data; the upload "
                "or copy was probably interrupted)",
            ) from exc
        except (OSError, zlib.error) as exc:
            raise refusal(
                sequence, path, "the compressed file is damaged (its checksum or data are wrong)"
            ) from exc
    if have < needed:
        raise refusal(
            sequence,
            path,
            f"the file is truncated: it holds {have:,} bytes but its header needs {needed:,}",
        )


def inspect_nifti(
    path: str | os.PathLike, sequence: str | None = None, *, check_data: bool = True
) -> VolumeInfo:
    """Check one uploaded file quickly and return its canonical geometry as a VolumeInfo.

    Recognises NIfTI-1 and NIfTI-2 by content (magic bytes), compressed or not, whatever the file
    name says. Refuses (InvalidInputError naming ``sequence`` or the file) an empty or missing file,
    non-NIfTI content (PNG, DICOM, ...), a .hdr/.img pair, a truncated or damaged gzip stream or a
    file shorter than its header, a 2D image, a 4D file with more than one volume, non-numeric
    voxels (RGB, complex), more than ``MAX_SIDE`` voxels per side, and an invalid voxel size or
    affine. With ``check_data`` the whole gzip stream is decompressed in 1 MiB chunks (never held
    in memory) to prove it is complete; without it only the header is read.
    """
    path = Path(path)
    head, compressed = _read_head(path, sequence)
    hdr = _header_from(head, path, sequence, compressed)
    spatial = _check_header(hdr, path, sequence)
    _, canon_affine, canon_shape = _canonical_geometry(
        hdr.get_best_affine(), spatial, path, sequence
    )
    if check_data:
        _check_data_length(hdr, path, sequence, compressed)
    return VolumeInfo(
        shape=canon_shape,
        voxel_size=_voxel_size(canon_affine),
        dtype=str(hdr.get_data_dtype()),
        affine=canon_affine,
    )


def check_same_grid(infos: dict[str, VolumeInfo]) -> None:
    """Refuse a case whose volumes do not share FLAIR's voxel grid; return None when they all do.

    Decision: grids that differ are **refused, never resampled**. CPM-RadPath / BraTS data (what the
    classifier is trained for) are co-registered and resampled onto one 1 mm grid before release, so
    a differing grid means the files were not preprocessed the same way, come from different
    sessions, or belong to different patients. Resampling would hide exactly those mistakes behind a
    plausible-looking result, mixes partial-volume interpolation into the lesion edges the model
    looks at, and an affine that merely "overlaps" says nothing about whether the brains are
    registered. Refusing is safer and easy to explain; the site can co-register and resample with
    its usual tools (e.g. the BraTS preprocessing pipeline) and upload again.

    Grids are compared in canonical (RAS+) orientation, so the same grid stored in another axis
    order passes. The reference is FLAIR (or the first entry when FLAIR is absent). Raises
    InvalidInputError naming the first sequence that differs and saying what differs: size, voxel
    size, or position / orientation (world positions of the grid corners more than
    ``GRID_TOLERANCE_VOXELS`` voxel apart).
    """
    if not infos:
        return
    ref_key = "flair" if "flair" in infos else next(iter(infos))
    ref = infos[ref_key]
    ref_label = SEQUENCE_LABELS.get(ref_key, ref_key)
    corners = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, ref.shape[0] - 1)
            for j in (0, ref.shape[1] - 1)
            for k in (0, ref.shape[2] - 1)
        ]
    ).T
    ref_world = (ref.affine @ corners)[:3]
    tolerance = GRID_TOLERANCE_VOXELS * min(ref.voxel_size)
    for key, info in infos.items():
        if key == ref_key:
            continue
        label = SEQUENCE_LABELS.get(key, key)

        def mismatch(what: str, key: str = key, label: str = label) -> InvalidInputError:
            return InvalidInputError(
                f"{label}: the image grid differs from {ref_label} ({what}); the four sequences "
                "must be co-registered on the same voxel grid, as in BraTS / CPM-RadPath",
                key,
            )

        if tuple(info.shape) != tuple(ref.shape):
            raise mismatch(f"{_fmt(info.shape)} voxels instead of {_fmt(ref.shape)}")
        if not np.allclose(info.voxel_size, ref.voxel_size, rtol=0, atol=tolerance):
            raise mismatch(
                f"voxels of {_fmt(info.voxel_size, ' mm', 3)} instead of "
                f"{_fmt(ref.voxel_size, ' mm', 3)}"
            )
        distance = float(np.max(np.linalg.norm((info.affine @ corners)[:3] - ref_world, axis=0)))
        if distance > tolerance:
            raise mismatch(f"positioned or oriented differently, up to {distance:.1f} mm apart")


def _open_image(path: Path, sequence: str | None) -> nib.Nifti1Image:
    """Open a NIfTI-1/2 file lazily (header read, data not yet), deciding gzip by content."""
    head, compressed = _read_head(path, sequence)
    hdr = _header_from(head, path, sequence, compressed)
    klass = nib.Nifti2Image if isinstance(hdr, nib.Nifti2Header) else nib.Nifti1Image
    name = path.name.lower()
    try:
        if name.endswith(".nii.gz") == compressed and name.endswith((".nii", ".nii.gz")):
            return klass.from_filename(str(path))
        # The name lies about compression (e.g. a gzipped file called .nii): trust the content.
        # Rare (the server names stored files), so the whole file is read into memory here.
        with gzip.open(path, "rb") if compressed else open(path, "rb") as fh:
            return klass.from_bytes(fh.read())
    except _READ_ERRORS + (nib.filebasedimages.ImageFileError,) as exc:
        raise refusal(sequence, path, "the NIfTI file is damaged and cannot be read") from exc


class NiftiVolume:
    """One NIfTI file opened lazily and presented in canonical (RAS+) orientation.

    Only the header is read on construction (refusing what :func:`inspect_nifti` refuses, except
    the full-stream check); voxel data are read by :meth:`read` (everything) or :meth:`read_axial`
    (a slab of axial slices, through nibabel's array proxy). Scaling (scl_slope / scl_inter) is
    applied; data come back as float32.
    """

    def __init__(self, path: str | os.PathLike, sequence: str | None = None) -> None:
        self.path = Path(path)
        self.sequence = sequence
        self._img = _open_image(self.path, sequence)
        spatial = _check_header(self._img.header, self.path, sequence)
        self._extra = len(self._img.shape) - 3
        self._ornt, self.affine, self.shape = _canonical_geometry(
            self._img.affine, spatial, self.path, sequence
        )
        self.voxel_size = _voxel_size(self.affine)
        self._slab_axis = int(np.flatnonzero(self._ornt[:, 0] == 2)[0])

    def refusal(self, reason: str) -> InvalidInputError:
        """Return an InvalidInputError for this file with the given plain-language reason."""
        return refusal(self.sequence, self.path, reason)

    def _damaged(self, exc: BaseException) -> InvalidInputError:
        log.info("reading %s failed: %s", self.path, exc)
        return self.refusal(
            "the file is damaged or truncated and its image data cannot be read to the end"
        )

    def _read_float32(self) -> np.ndarray:
        """Return the stored voxels as scaled float32 in storage order, read in 16 MiB pieces.

        nibabel's ``np.asarray(dataobj, dtype=float32)`` first reads the whole file in its stored
        type (1 GiB for a 512³ float64 volume) and only then converts; here the float32 result is
        allocated once and each piece of the stream is converted into it and freed, so the peak is
        the result plus one piece. Raises OSError / EOFError / zlib.error for damaged data.
        """
        proxy = self._img.dataobj
        if not isinstance(proxy, nib.arrayproxy.ArrayProxy):  # opened from bytes (name lies)
            return np.asarray(proxy, dtype=np.float32)
        stored = np.dtype(proxy.dtype)
        shape = tuple(int(s) for s in proxy.shape)
        total = int(np.prod(shape))
        out = np.empty(total, dtype=np.float32)
        per_piece = max(1, _READ_PIECE // stored.itemsize)
        with gzip.open(self.path, "rb") if _is_gzip(self.path) else open(self.path, "rb") as fh:
            fh.seek(int(proxy.offset))
            done = 0
            while done < total:
                count = min(per_piece, total - done)
                raw = fh.read(count * stored.itemsize)
                if len(raw) < count * stored.itemsize:
                    got = done + len(raw) // stored.itemsize
                    raise EOFError(f"{self.path}: the data end after {got} of {total} voxels")
                out[done : done + count] = np.frombuffer(raw, dtype=stored, count=count)
                del raw
                done += count
        slope, inter = float(proxy.slope), float(proxy.inter)
        if slope != 1.0:
            out *= np.float32(slope)
        if inter != 0.0:
            out += np.float32(inter)
        return out.reshape(shape, order=proxy.order)

    def read(self) -> np.ndarray:
        """Return the whole volume, scaled, as float32 in canonical orientation (X, Y, Z).

        The file is converted to float32 piece by piece (see ``_read_float32``), so a float64
        file never sits in memory in its stored type. The result may be a strided view (flipped /
        transposed) of the stored array. Raises InvalidInputError when the data cannot be read
        (truncated or damaged file).
        """
        try:
            data = self._read_float32()
        except _READ_ERRORS as exc:
            raise self._damaged(exc) from exc
        if self._extra:
            data = data[(Ellipsis,) + (0,) * self._extra]
        return apply_orientation(data, self._ornt)

    def read_axial(self, indices: list[int] | np.ndarray) -> np.ndarray:
        """Return canonical axial slices ``indices`` as float32 (X, Y, len(indices)).

        Only the slab of stored slices between the lowest and highest index is read. Raises
        ValueError for out-of-range indices (a caller's bug) and InvalidInputError when the data
        cannot be read.
        """
        idx = np.asarray(indices, dtype=int).ravel()
        n = self.shape[2]
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"axial indices {idx.tolist()} out of range 0..{n - 1}")
        axis = self._slab_axis
        stored = (n - 1 - idx) if self._ornt[axis, 1] < 0 else idx
        lo, hi = int(stored.min()), int(stored.max()) + 1
        slicer: list[object] = [slice(None)] * 3 + [0] * self._extra
        slicer[axis] = slice(lo, hi)
        try:
            slab = np.asarray(self._img.dataobj[tuple(slicer)], dtype=np.float32)
        except _READ_ERRORS as exc:
            raise self._damaged(exc) from exc
        slab = np.take(slab, stored - lo, axis=axis)
        ornt = self._ornt.copy()
        ornt[axis, 1] = 1  # the slab axis is already in the requested (canonical) order
        return np.ascontiguousarray(apply_orientation(slab, ornt))


def load_volume(
    path: str | os.PathLike, sequence: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (float32 canonical RAS+ volume, canonical 4x4 affine) of one NIfTI file.

    Applies scl_slope / scl_inter. Refuses (InvalidInputError) what :func:`inspect_nifti` refuses
    and data that cannot be read. Does not check content (see ``case_loader.validate_volume``).
    """
    vol = NiftiVolume(path, sequence)
    return vol.read(), vol.affine
