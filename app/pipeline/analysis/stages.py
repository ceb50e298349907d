"""The analysis stages, in order: ingest, sequence, scope, lesion, subtype, saliency, artefacts.

Each is a small class following ``context.Stage``. Stages whose model is not configured are left
out of :func:`default_stages` (never stubbed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.pipeline.analysis.context import AnalysisContext, Stage
from app.pipeline.errors import InvalidInputError
from app.pipeline.intensity import brain_mask
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.lesion.slice_finder import SliceResult, locate_lesion
from app.pipeline.models.inputs import PreparedInput, prepare_case, read_slabs
from app.pipeline.models.prediction import SubtypeResult
from app.pipeline.models.registry import ModelSet
from app.pipeline.outcomes import Outcome
from app.pipeline.render import artefacts as art

MIN_TUMOUR_ML = 0.5
"""A segmented whole tumour below this volume (mL) counts as "no tumour found"."""


@dataclass(frozen=True)
class LesionResult:
    """The lesion stage's result: the chosen slice and the tumour mask behind it, the method
    that gave it, and (with a segmentation model) the label map and its measurements."""

    found: SliceResult
    method: str
    labels: np.ndarray | None = None
    measurements: dict[str, Any] | None = None

    def summary_keys(self) -> dict[str, Any]:
        """Return the summary's lesion keys (slice_method, slice_index, volume, no lesion)."""
        return {
            "slice_method": self.method,
            "slice_index": int(self.found.index),
            "candidate_volume_ml": round(float(self.found.volume_ml), 2),
            "no_lesion_found": bool(self.found.no_lesion_found),
        }


@dataclass(frozen=True)
class SubtypeOutput:
    """The subtype stage's result: the classification and the model input it came from."""

    prepared: PreparedInput
    result: SubtypeResult


@dataclass(frozen=True)
class SaliencyResult:
    """Grad-CAM maps on the slice grid (X, Y, N), one per classified slice, in [0, 1]."""

    slice_maps: np.ndarray


class IngestStage:
    """Load and check the four sequences (refuses unusable data with InvalidInputError)."""

    name = "ingest"
    label = "Loading the scans"
    runs_when_ended = False
    task = None

    def run(self, ctx: AnalysisContext) -> None:
        """Load the case into ``ctx.case``."""
        from app.pipeline.io.case_loader import load_case

        ctx.case = load_case(dict(ctx.paths))
        ctx.set_result(self.name, ctx.case)


@dataclass
class SequenceStage:
    """Check which file is which sequence (the sequence model, all four slots together).

    Adds ``sequences`` (the SequenceCheck as a dict) to the summary. When the model is confident
    that the files sit in the wrong slots, the analysis ends with ``needs_review`` and the
    model's message, unless the user already confirmed the slots (``confirmed``).
    """

    model: Any
    confirmed: bool = False
    name: str = "sequence"
    label: str = "Checking which file is which sequence"
    runs_when_ended: bool = False
    task: str | None = "sequence"

    def run(self, ctx: AnalysisContext) -> None:
        """Store the SequenceCheck; end early when the slots look swapped and are unconfirmed."""
        volumes = {s: ctx.case.volume(s) for s in SEQUENCES}
        try:
            check = self.model.check(volumes)
        except ValueError as exc:  # a volume with no brain voxel, for example
            raise InvalidInputError(str(exc)) from exc
        ctx.set_result(self.name, check)
        ctx.add_to_summary(sequences={**check.to_dict(), "confirmed_by_user": self.confirmed})
        if check.needs_review and not self.confirmed:
            ctx.end_early(Outcome.NEEDS_REVIEW, check.message)


@dataclass
class LesionStage:
    """Find the tumour: segment it when a segmentation model is configured, else find the
    max-tumour slice with the slice method of the subtype model's card (the robust finder).

    With segmentation, the slice is the axial slice with the largest whole-tumour area, the
    summary gains ``segmentation`` (measurements, model, threshold), and a whole tumour under
    MIN_TUMOUR_ML ends the analysis: "No tumour was found".
    """

    card: Any
    segmenter: Any = None
    name: str = "lesion"
    label: str = "Locating the tumour"
    runs_when_ended: bool = False

    @property
    def task(self) -> str | None:
        """Return "segmentation" when a segmentation model runs here, else None (the robust
        finder needs no model)."""
        return None if self.segmenter is None else "segmentation"

    def run(self, ctx: AnalysisContext) -> None:
        """Store a LesionResult; end early when the segmentation finds no tumour."""
        if self.segmenter is None:
            ctx.set_result(self.name, LesionResult(locate_lesion(ctx.case, self.card),
                                                   self.card.slice_method))
            return
        from app.pipeline.lesion.measurements import measure

        try:
            labels = self.segmenter.segment(ctx.case).labels
        except ValueError as exc:  # no brain in the FLAIR
            raise InvalidInputError(str(exc)) from exc
        case = ctx.case
        measured = measure(labels, case.voxel_size, affine=case.affine,
                           brain=case.flair != 0).to_dict()
        found = slice_of_largest_area(labels > 0, case.voxel_size)
        ctx.set_result(self.name, LesionResult(found, "segmentation", labels, measured))
        ctx.add_to_summary(segmentation={
            "measurements": measured,
            "min_tumour_ml": MIN_TUMOUR_ML,
            "labels": {"1": "necrotic / non-enhancing core", "2": "oedema",
                       "4": "enhancing tumour"},
        })
        if measured["wt_ml"] < MIN_TUMOUR_ML:
            ctx.end_early(Outcome.NO_TUMOUR, (
                f"No tumour was found: the segmented whole tumour is {measured['wt_ml']:.2f} mL, "
                f"below {MIN_TUMOUR_ML} mL."
            ))


def slice_of_largest_area(mask: np.ndarray, voxel_size: Any) -> SliceResult:
    """Return the SliceResult of a 3D tumour mask: the axial slice with the largest area.

    An empty mask gives the middle slice with ``no_lesion_found``.
    """
    areas = np.count_nonzero(mask, axis=(0, 1))
    ml = float(np.count_nonzero(mask)) * float(np.prod(voxel_size)) / 1000.0
    empty = not areas.any()
    index = mask.shape[2] // 2 if empty else int(np.argmax(areas))
    return SliceResult(index=index, mask=mask, volume_ml=ml, no_lesion_found=empty, areas=areas)


@dataclass
class ScopeStage:
    """Is it a glioma at all, and is the scan like the training data (the tumour-type model)?

    Adds ``tumour_type`` (type, calibrated probabilities, low confidence, OOD score) and
    ``in_distribution`` to the summary. Only a confident glioma goes on to the subtype: an
    out-of-distribution scan, no tumour, another tumour type or an uncertain type end the
    analysis with a plain message and no class.
    """

    model: Any
    name: str = "scope"
    label: str = "Checking the tumour type"
    runs_when_ended: bool = False
    task: str | None = "tumour-type"

    def run(self, ctx: AnalysisContext) -> None:
        """Store the tumour-type result dict; end early unless it is a confident glioma."""
        try:
            result = self.model.predict(ctx.case)
        except ValueError as exc:  # no brain found in the volumes
            raise InvalidInputError(str(exc)) from exc
        ctx.set_result(self.name, result)
        ctx.add_to_summary(tumour_type=dict(result), in_distribution=result["in_distribution"])
        ended = scope_outcome(result)
        if ended is not None:
            ctx.end_early(*ended)


def scope_outcome(result: dict[str, Any]) -> tuple[str, str] | None:
    """Return (outcome, message) when a tumour-type result ends the analysis, else None.

    None only for a glioma with enough confidence (in distribution, not low-confidence).
    """
    if result["out_of_distribution"]:
        return Outcome.OUT_OF_DISTRIBUTION, str(result["message"])
    kind, p = result["tumour_type"], result["top_probability"]
    name = str(result["tumour_type_name"]).lower()
    if result["low_confidence"]:
        return Outcome.UNCERTAIN_TYPE, (
            f"The tumour type is uncertain (most likely {name}, p = {p:.2f}): "
            "no glioma subtype is shown."
        )
    if kind == "no_tumour":
        return Outcome.NO_TUMOUR, f"No tumour found (p = {p:.2f})."
    if kind != "glioma":
        return Outcome.NOT_GLIOMA, (
            f"Looks like {_article(name)} {name} (p = {p:.2f}): the glioma subtype does not apply."
        )
    return None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


@dataclass
class SubtypeStage:
    """Classify the max-tumour slab as A / O / G with the ResNet50 (a ``Classifier``)."""

    classifier: Any
    name: str = "subtype"
    label: str = "Classifying the tumour"
    runs_when_ended: bool = False
    task: str | None = "subtype"

    def run(self, ctx: AnalysisContext) -> None:
        """Store a SubtypeOutput (the prepared input and the SubtypeResult)."""
        found = ctx.result("lesion", LesionResult).found
        prepared = prepare_case(ctx.case, self.classifier.card, found.index)
        result = self.classifier.classify_prepared(
            prepared, no_lesion_found=found.no_lesion_found
        )
        ctx.set_result(self.name, SubtypeOutput(prepared, result))


@dataclass
class SaliencyStage:
    """Grad-CAM of the predicted class, mapped back onto the classified slices."""

    classifier: Any
    name: str = "saliency"
    label: str = "Explaining the result"
    runs_when_ended: bool = False
    task: str | None = "subtype"  # Grad-CAM of the subtype model

    def run(self, ctx: AnalysisContext) -> None:
        """Store a SaliencyResult: maps that are 0 outside the brain.

        The brain is the one the classifier's input was built on (``intensity.brain_mask`` of
        the FLAIR slab), so a scan whose background is not exactly 0 (not skull-stripped, or
        noisy) gets no saliency outside the head either.
        """
        from app.pipeline.render.saliency import maps_to_slices

        out = ctx.result("subtype", SubtypeOutput)
        prepared = out.prepared
        cams = self.classifier.gradcam(prepared.batch, out.result.class_index)
        slabs = (prepared.slabs if prepared.slabs is not None
                 else read_slabs(ctx.case, prepared.indices))
        brain = brain_mask(np.asarray(slabs["flair"], dtype=np.float32))
        ctx.set_result(self.name, SaliencyResult(maps_to_slices(cams, prepared.geometry, brain)))


class ArtefactsStage:
    """Write the images and volumes the result page shows (also after an early end).

    The montage shows the max-tumour slice (the slice with most brain when no lesion stage ran)
    with the candidate contour; the Grad-CAM overlay and heatmap volume are written when the
    saliency stage ran. Stores {key: file name} of what it wrote.
    """

    name = "artefacts"
    label = "Saving the images"
    runs_when_ended = True
    task = None

    def run(self, ctx: AnalysisContext) -> None:
        """Write the artefacts into ``ctx.scratch``."""
        from app.pipeline.render.saliency import HEATMAP_RANGE, heatmap_volume, write_nifti_fast

        case = ctx.case
        if case is None:  # ended before the scans were loaded: nothing to draw
            ctx.set_result(self.name, {})
            return
        written: dict[str, str] = {}
        found = ctx.result("lesion", LesionResult).found if ctx.has_result("lesion") else None
        if ctx.has_result("subtype"):
            prepared = ctx.result("subtype", SubtypeOutput).prepared
            centre, row = prepared.centre, prepared.centre_row
            planes = ({s: prepared.slabs[s][:, :, row] for s in SEQUENCES}
                      if prepared.slabs is not None else None)
        else:
            prepared, planes, row = None, None, 0
            centre = int(found.index) if found is not None else _most_brain(case.flair)
        if planes is None:
            planes = {s: case.axial_slices(s, [centre])[:, :, 0] for s in SEQUENCES}
        mask2d = found.mask[:, :, centre] if found is not None else None
        maps = (ctx.result("saliency", SaliencyResult).slice_maps
                if ctx.has_result("saliency") and prepared is not None else None)
        written.update(art.write_figures(planes, mask2d, None if maps is None else maps[:, :, row],
                                         ctx.scratch))
        if found is not None:
            art.write_mask_nifti(found.mask, case.affine, ctx.scratch / art.MASK_NIFTI)
            written["candidate_mask"] = art.MASK_NIFTI
        lesion = ctx.result("lesion", LesionResult) if ctx.has_result("lesion") else None
        if lesion is not None and lesion.labels is not None:
            art.write_label_nifti(lesion.labels, case.affine,
                                  ctx.scratch / art.SEGMENTATION_NIFTI)
            art.write_measurements(lesion.measurements or {},
                                   ctx.scratch / art.MEASUREMENTS_JSON,
                                   ctx.scratch / art.MEASUREMENTS_CSV)
            written.update(segmentation=art.SEGMENTATION_NIFTI,
                           measurements=art.MEASUREMENTS_JSON,
                           measurements_csv=art.MEASUREMENTS_CSV)
        if maps is not None:
            volume = heatmap_volume(maps, prepared.indices, case.shape)
            write_nifti_fast(volume, case.affine, ctx.scratch / art.HEATMAP_NIFTI, HEATMAP_RANGE)
            written["heatmap"] = art.HEATMAP_NIFTI
        ctx.set_result(self.name, written)


def _most_brain(flair: np.ndarray) -> int:
    """Return the axial index with the most non-zero voxels."""
    return int(np.argmax(np.count_nonzero(flair, axis=(0, 1))))


def default_stages(models: ModelSet, *, sequences_confirmed: bool = False) -> list[Stage]:
    """Return the stages for the configured models, in order.

    ingest → [sequence] → [scope] → lesion → subtype → saliency → artefacts; the sequence check
    and the scope (tumour type, out-of-distribution) only when their models are configured; the
    lesion stage segments when a segmentation model is configured (else the robust finder).
    The scope runs before the segmentation: an input unlike the training data, or a tumour the
    glioma U-Net was not trained on, is named as such instead of being segmented and measured.
    ``sequences_confirmed``: the user confirmed the slots, so a mismatch is reported but does
    not stop the analysis. KeyError when no subtype model is
    configured (the lesion finder reads its slice method from that model's card).
    """
    classifier = models["subtype"]
    optional: list[Stage] = []
    if "sequence" in models:
        optional.append(SequenceStage(models["sequence"], confirmed=sequences_confirmed))
    scope: list[Stage] = [ScopeStage(models["tumour-type"])] if "tumour-type" in models else []
    segmenter = models["segmentation"] if "segmentation" in models else None
    return [
        IngestStage(),
        *optional,
        *scope,
        LesionStage(classifier.card, segmenter),
        SubtypeStage(classifier),
        SaliencyStage(classifier),
        ArtefactsStage(),
    ]
