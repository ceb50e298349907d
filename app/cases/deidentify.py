"""De-identify one uploaded NIfTI file while streaming it to storage, within resource limits.

What is kept, and why (docs/privacy.md lists the same): a fresh NIfTI header of the same kind
(NIfTI-1 or NIfTI-2, same byte order) holding only the fields the pipeline reads -- the image
dimensions, voxel type, voxel sizes, intensity scaling and the two orientation matrices (qform
and sform with their codes and the units) -- followed by the voxel data, byte for byte. Every free
text field (``descrip``, ``aux_file``, ``intent_name``, ``db_name``, ``data_type``, NIfTI-2's
``unused_str``), every header extension (DICOM tags, AFNI/XML blobs...), the intent, slice timing,
display range and anything after the data are dropped. The gzip wrapper is rewritten too: no
original file name, no time stamp.

Limits enforced on the way, so a hostile file costs little:
- a gzip stream is decompressed only as far as its header promises (data offset + voxels x bytes
  per voxel, + DECOMPRESSION_SLACK); more is refused as a possible decompression bomb;
- the header must declare at most MAX_DATA_BYTES of voxel data and MAX_DATA_OFFSET of extensions;
- voxel values are checked as they pass: all NaN/Inf, all zero or constant content is refused.

This module is the one de-identification step of every upload path (the web form and the API
both store through ``app.cases.uploads.store_upload``, which calls :func:`deidentify_nifti`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np

from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCE_LABELS
from app.pipeline.io.nifti import MAX_SIDE, VolumeInfo, inspect_nifti

CHUNK = 1 << 20
"""Decompressed bytes produced (and checked, and written) per step."""

INPUT_CHUNK = 64 * 1024
"""Compressed bytes read per step: with zlib's ~1000:1 at most, never more than ~64 MiB out."""
HEAD_BYTES = 544
"""Enough decompressed bytes for a NIfTI-2 header, or a NIfTI-1 header and its extension flag."""

DECOMPRESSION_SLACK = 64 * 1024
"""Decompressed bytes tolerated past the end of the declared data (some writers pad)."""

MAX_DATA_OFFSET = 16 * 1024 * 1024
"""Largest accepted data offset: header extensions beyond this are refused, not read."""

MAX_DATA_BYTES = MAX_SIDE**3 * 8
"""Largest accepted voxel data: a 512^3 volume of float64 (1 GiB)."""

GZIP_LEVEL = 1
"""Stored files are re-compressed fast: the web thread pays for it during the upload."""

KEPT_FIELDS = (
    "dim", "datatype", "bitpix", "pixdim", "scl_slope", "scl_inter", "xyzt_units",
    "qform_code", "sform_code", "quatern_b", "quatern_c", "quatern_d",
    "qoffset_x", "qoffset_y", "qoffset_z", "srow_x", "srow_y", "srow_z",
)
"""The header fields copied to the stored file; every other field gets its blank default."""

_GZIP_MAGIC = b"\x1f\x8b"
_HEADER_KINDS = {348: (nib.Nifti1Header, 352), 540: (nib.Nifti2Header, 544)}


class RefusedFile(InvalidInputError):
    """An uploaded file refused while de-identifying; the message names the sequence."""


@dataclass(frozen=True)
class StoredScan:
    """One de-identified file as stored: where, its digest and size, and its geometry."""

    path: Path
    sha256: str
    size_bytes: int
    info: VolumeInfo


def _refuse(sequence: str, reason: str) -> RefusedFile:
    return RefusedFile(f"{SEQUENCE_LABELS.get(sequence, sequence)}: {reason}", sequence)


class _BoundedStream:
    """The decompressed bytes of an upload, refusing to produce more than `limit` bytes."""

    def __init__(self, source: BinaryIO, sequence: str) -> None:
        self.source = source
        self.sequence = sequence
        first = source.read(INPUT_CHUNK)
        if not first:
            raise _refuse(sequence, "the file is empty.")
        self.compressed = first[:2] == _GZIP_MAGIC
        self.pending = first
        self.decompressor = zlib.decompressobj(31) if self.compressed else None
        self.buffer = bytearray()
        self.produced = 0
        self.limit = HEAD_BYTES + MAX_DATA_OFFSET
        self.finished = False

    def _next_input(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self.source.read(INPUT_CHUNK)

    def _produce(self) -> bool:
        """Add decompressed bytes to the buffer; return False at the end of the input."""
        if self.finished:
            return False
        if not self.compressed:
            data = self._next_input()
            if not data:
                self.finished = True
                return False
            self.produced += len(data)
            self.buffer += data
            return True
        decompressor = self.decompressor
        data = decompressor.unconsumed_tail or self._next_input()
        if not data:
            self.finished = True
            if not decompressor.eof:
                raise _refuse(
                    self.sequence,
                    "the compressed file is truncated (it ends too early; the upload or copy "
                    "was probably interrupted).",
                )
            return False
        try:
            out = decompressor.decompress(data, CHUNK)
        except zlib.error as exc:
            raise _refuse(
                self.sequence, "the compressed file is damaged (its checksum or data are wrong)."
            ) from exc
        self.produced += len(out)
        if self.produced > self.limit:
            raise _refuse(
                self.sequence,
                f"the compressed file unpacks to more than its header declares (over "
                f"{self.limit:,} bytes); it was refused as a possible decompression bomb.",
            )
        self.buffer += out
        if decompressor.eof:
            rest = decompressor.unused_data
            if rest[:2] == _GZIP_MAGIC:  # a multi-member gzip file: go on with the next member
                self.decompressor = zlib.decompressobj(31)
                self.pending = rest
            elif rest.strip(b"\0") or self.source.read(1):
                raise _refuse(self.sequence, "the compressed file has extra data after its end.")
            else:
                self.finished = True
        return True

    def read(self, size: int) -> bytes:
        """Return the next `size` decompressed bytes (fewer only at the end of the stream)."""
        while len(self.buffer) < size and self._produce():
            pass
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    def drain(self) -> None:
        """Read to the end (checking the gzip checksum and the size limit), discarding it."""
        while self._produce():
            self.buffer.clear()
        self.buffer.clear()


def _inspect_head(head: bytes, staging: Path, sequence: str) -> VolumeInfo:
    """Run the pipeline's header checks (format, 3D, size, voxel type, affine) on `head`."""
    probe = staging / f"{sequence}.header-probe"
    probe.write_bytes(head)
    try:
        return inspect_nifti(probe, sequence, check_data=False)
    finally:
        probe.unlink(missing_ok=True)


def _clean_header(head: bytes, sequence: str) -> tuple[nib.Nifti1Header, int, int]:
    """Return (clean header, original data offset, data bytes) from the original header bytes."""
    size = struct.unpack("<i", head[:4])[0]
    if size not in _HEADER_KINDS:
        size = struct.unpack(">i", head[:4])[0]
    klass, clean_offset = _HEADER_KINDS[size]
    original = klass.from_fileobj(io.BytesIO(head[:size]), check=False)
    offset = int(original["vox_offset"])
    if offset < size + 4 or offset > MAX_DATA_OFFSET:
        raise _refuse(sequence, f"the header's data offset ({offset:,}) is invalid.")
    data_bytes = int(np.prod(original.get_data_shape())) * original.get_data_dtype().itemsize
    if data_bytes > MAX_DATA_BYTES:
        raise _refuse(
            sequence,
            f"the header declares {data_bytes:,} bytes of image data, more than the largest "
            f"accepted volume ({MAX_DATA_BYTES:,} bytes: {MAX_SIDE}^3 voxels of float64).",
        )
    clean = klass(endianness=original.endianness)
    for name in KEPT_FIELDS:
        clean[name] = original[name]
    clean["vox_offset"] = clean_offset
    return clean, offset, data_bytes


class _ContentCheck:
    """Watches voxel values go by; refuses content no analysis can use."""

    def __init__(self, dtype: np.dtype, sequence: str) -> None:
        self.dtype = dtype
        self.sequence = sequence
        self.finite = 0
        self.low = np.inf
        self.high = -np.inf

    def update(self, chunk: bytes) -> None:
        values = np.frombuffer(chunk, dtype=self.dtype)
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        if values.size:
            self.finite += values.size
            self.low = min(self.low, float(values.min()))
            self.high = max(self.high, float(values.max()))

    def verdict(self) -> None:
        """Refuse (RefusedFile) all-NaN/Inf, all-zero or constant content; else return None."""
        if self.finite == 0:
            raise _refuse(self.sequence, "the image holds no numbers (every voxel is NaN or "
                                         "infinite).")
        if self.low == self.high == 0:
            raise _refuse(self.sequence, "the image is empty (every voxel is zero).")
        if self.low == self.high:
            raise _refuse(self.sequence, f"the image is blank (every voxel has the value "
                                         f"{self.low:g}).")


def deidentify_nifti(source: BinaryIO, target: Path, sequence: str) -> StoredScan:
    """Stream an uploaded NIfTI from `source` to `target` (.nii.gz), keeping only KEPT_FIELDS.

    Returns the stored file's path, SHA-256, size and canonical geometry. Refuses
    (InvalidInputError naming the sequence, nothing left at `target`) an empty, non-NIfTI,
    truncated or damaged file, one that fails the pipeline's header checks (2D, 4D, too large,
    bad voxel type or affine), a gzip stream unpacking past its declared size (bomb), extensions
    or data larger than the limits above, and all-NaN/Inf, all-zero or constant content.
    """
    target = Path(target)
    try:
        stream = _BoundedStream(source, sequence)
        head = stream.read(HEAD_BYTES)
        info = _inspect_head(head, target.parent, sequence)
        clean, offset, data_bytes = _clean_header(head, sequence)
        stream.limit = offset + data_bytes + DECOMPRESSION_SLACK
        if offset > len(head):
            skipped = stream.read(offset - len(head))  # header extensions: dropped
            if len(skipped) < offset - len(head):
                raise _refuse(sequence, "the file is truncated: it ends inside its header.")
            pending = b""
        else:
            pending = head[offset:]
        check = _ContentCheck(clean.get_data_dtype(), sequence)
        itemsize = check.dtype.itemsize
        with target.open("wb") as raw, gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
        ) as out:
            out.write(clean.binaryblock)
            out.write(b"\0\0\0\0")  # extension flag: no extensions
            remaining = data_bytes
            while remaining:
                want = min(CHUNK - CHUNK % itemsize, remaining)
                if pending:
                    chunk, pending = pending[:want], pending[want:]
                    if len(chunk) < want:
                        chunk += stream.read(want - len(chunk))
                else:
                    chunk = stream.read(want)
                if len(chunk) < want:
                    have = data_bytes - remaining + len(chunk)
                    raise _refuse(
                        sequence,
                        f"the file is truncated: it holds {have:,} bytes of image data but its "
                        f"header needs {data_bytes:,}.",
                    )
                check.update(chunk)
                out.write(chunk)
                remaining -= len(chunk)
        stream.drain()
        check.verdict()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256()
    with target.open("rb") as stored:
        while block := stored.read(CHUNK):
            digest.update(block)
    return StoredScan(target, digest.hexdigest(), target.stat().st_size, info)
