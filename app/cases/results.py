"""What the result page and the file routes show of a case: files, and the page's view model.

`build_result_page` turns the one result schema (app/cases/schemas.py) into typed data for
templates/cases/result.html, which only loops and branches over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import abort, url_for

from app import storage
from app.cases.findings import Findings, SegmentLabel, build_findings, segment_labels
from app.cases.schemas import ResultSchema, existing_artefacts, has_result
from app.models import Case
from app.pipeline.classes import CLASS_NAMES, CLASSES
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.pipeline.outcomes import MODEL_ROLES, OUTCOME_LABELS, Outcome
from app.pipeline.render import artefacts as art
from app.pipeline.render.artefacts import ARTEFACTS

MIMETYPES = {
    ".png": "image/png",
    ".json": "application/json",
    ".gz": "application/gzip",
    ".csv": "text/csv",
    ".nii": "application/octet-stream",
    ".pdf": "application/pdf",
}


def mimetype_for(path: Path) -> str:
    """Return the content type of a case file, by its (server-chosen) extension."""
    return MIMETYPES.get(path.suffix, "application/octet-stream")


def artefact_path(case: Case, name: str) -> tuple[Path, str]:
    """Return (path, content type) of an artefact; aborts 404 for unknown or missing files."""
    if name not in ARTEFACTS:
        abort(404)
    path = storage.results_dir(case.id) / name
    if not path.is_file():
        abort(404)
    return path, mimetype_for(path)


def scan_file(case: Case, sequence: str) -> tuple[Path, str]:
    """Return (path, content type) of one stored sequence; aborts 404 when there is none."""
    scan = case.scan_for(sequence)
    if scan is None:
        abort(404)
    path = storage.absolute_path(scan.stored_path)
    if not path.is_file():
        abort(404)
    return path, mimetype_for(path)


# --- the result page's view model ------------------------------------------------------------
# The template only loops and branches over these; every number is formatted here.

CHART_ROW = 36  # px per class in the probability chart
CHART_LEFT = 26  # px where the bars start
CHART_WIDTH = 320  # px of a bar at probability 1


@dataclass(frozen=True)
class Bar:
    """One class of the probability chart and list: its bar, whisker and printed values."""

    letter: str
    name: str
    percent: str  # "80.0"
    data_p: str  # "0.800000", for scripts and tests
    spread: str | None  # "3.0" (± percentage points), None without a spread
    top: bool
    y: int
    text_y: int
    width: str
    whisker: tuple[str, str, int] | None  # (x1, x2, y) of the ± std line


@dataclass(frozen=True)
class Chart:
    """The probability chart (SVG geometry) with its text description."""

    bars: tuple[Bar, ...]
    height: int
    description: str


@dataclass(frozen=True)
class Volume:
    """A file the 3D viewer loads: a sequence or an overlay (mask, heatmap)."""

    key: str
    label: str
    url: str
    name: str
    opacity: float | None = None


@dataclass(frozen=True)
class Download:
    """A download button."""

    id: str
    label: str
    url: str


@dataclass(frozen=True)
class Figure:
    """A 2D figure of the case, in both display conventions (the page's toggle picks one)."""

    id: str
    alt: str
    caption: str
    url_radiological: str
    url_neurological: str  # the radiological one for old cases without it (its markers stay true)


@dataclass(frozen=True)
class ModelFacts:
    """What the page says about a model of the analysis."""

    task: str | None  # its card's task; None for an old result that did not record it
    role: str  # "tumour-type model"
    name: str
    version: str
    demo: bool
    training_data: str | None
    weights_sha256: str | None
    weights_short: str | None


@dataclass(frozen=True)
class SlotCall:
    """What the sequence model says about the file in one of the user's slots."""

    slot: str  # the slot's sequence key
    slot_label: str  # "FLAIR"
    detected_label: str  # the sequence the file looks like most
    percent: str  # "98.0": its probability
    data_p: str  # "0.980000", for scripts and tests
    spread: str | None  # "1.2" (± percentage points), None without a spread
    matches: bool  # the file looks like its slot
    suggested: str  # the sequence key it gets in the suggested assignment
    suggested_label: str
    moves: bool  # the suggestion moves this file


@dataclass(frozen=True)
class SequenceCheck:
    """The sequence check of a case: one call per slot and what to say about it."""

    calls: tuple[SlotCall, ...]
    message: str
    differs: bool
    confirmed: bool  # the user kept the slots after a warning
    confirmed_note: str | None
    t1_t1ce_message: str | None


@dataclass(frozen=True)
class SequenceReview:
    """A needs_review case's question to the user: the two answers and where they are posted."""

    message: str
    reassign_url: str
    confirm_url: str


@dataclass(frozen=True)
class ResultPage:
    """Everything the result section of templates/cases/result.html shows of a finished case."""

    outcome: str
    outcome_label: str
    demo: bool
    class_letter: str | None
    class_name: str | None
    grade_group: str | None
    message: str | None
    low_confidence: bool
    no_lesion_found: bool
    candidate_volume: str | None  # "23.5 mL"; None when measured by the segmentation or unknown
    slice_index: int | None
    slice_method: str | None
    agreement: str | None  # "67% of 3 slices vote A"
    agreement_slices: str | None  # "40, 41, 42"
    entropy: str | None  # "0.640"
    chart: Chart | None
    model: ModelFacts  # the model that decided the outcome (the result's `decided_by`)
    other_models: tuple[ModelFacts, ...]  # the other models whose stages ran, in order
    analysis_time: str | None  # "8.8 s": the summary's total
    stage_times: tuple[tuple[str, str], ...]  # (stage, "1.9 s"), without the total
    sequences: tuple[Volume, ...]
    overlays: tuple[Volume, ...]
    viewer_hint: str  # where the crosshair starts and what each overlay shown means
    figures: tuple[Figure, ...]
    downloads: tuple[Download, ...]
    save_name: str
    case_label: str  # burnt into saved viewer images
    disclaimer: str  # burnt into saved viewer images
    sequence_check: SequenceCheck | None  # None when no sequence model ran
    review: SequenceReview | None  # only while the case needs review
    figures_title: str

    findings: Findings  # tumour type, in-distribution, measurements (app/cases/findings.py)
    segment_labels: tuple[SegmentLabel, ...]  # the viewer's sub-regions, with its label map


# The 3D viewer's overlays: key (element ids, colour swatch), label, artefact, opacity. The
# segmentation's label map replaces the tumour candidate when the case has one (REPLACES).
OVERLAYS = (
    ("segmentation", "Tumour segmentation", art.SEGMENTATION_NIFTI, 0.7),
    ("mask", "Tumour candidate", art.MASK_NIFTI, 0.7),
    ("heatmap", "Grad-CAM heatmap", art.HEATMAP_NIFTI, 0.5),
)
OVERLAY_HINTS = {
    "segmentation": "the tumour's sub-regions are coloured as in the legend (each can be hidden)",
    "mask": "vermillion: tumour candidate",
    "heatmap": "dark blue to yellow: where the classifier looked (Grad-CAM saliency, 0 low to 1 "
               "high)",
}
"""What the 3D view's hint says of each overlay, when the case has it."""
NO_OVERLAY_HINT = "Nothing is drawn over the scans: the analysis ended before outlining a tumour."
REPLACES = {"mask": art.SEGMENTATION_NIFTI}
"""An overlay left out when the named artefact exists (old cases keep the candidate mask)."""
# The 2D figures: id, radiological file, neurological file, alt text, caption.
FIGURES = (
    ("montage", art.MONTAGE_PNG, art.MONTAGE_NEURO_PNG,
     "The chosen axial slice in the four sequences, with the tumour candidate outlined",
     "The chosen slice in FLAIR, T1, T1ce and T2: the classifier's input."),
    ("gradcam", art.GRADCAM_PNG, art.GRADCAM_NEURO_PNG,
     "Grad-CAM saliency heatmap over the chosen slice, with its colour bar",
     "Grad-CAM: the regions that weighed most in the suggestion (colour bar: 0 low, 1 high "
     "saliency)."),
)
UPLOADED_CAPTION = "An axial slice of the four files as uploaded, each labelled with its slot."
"""The montage's caption when the analysis ended before classifying (e.g. needs_review)."""
DEMO_IMAGE_NOTICE = "Demo model trained on synthetic phantoms only - not for clinical use."
RESEARCH_IMAGE_NOTICE = "Research use only - not for clinical use."
DOWNLOADS = (
    ("download-summary", "Summary (JSON)", art.SUMMARY_JSON),
    ("download-montage", "Montage (PNG)", art.MONTAGE_PNG),
    ("download-gradcam", "Grad-CAM (PNG)", art.GRADCAM_PNG),
    ("download-segmentation", "Label map (NIfTI)", art.SEGMENTATION_NIFTI),
    ("download-measurements-json", "Measurements (JSON)", art.MEASUREMENTS_JSON),
    ("download-measurements-csv", "Measurements (CSV)", art.MEASUREMENTS_CSV),
)
REPORT_DOWNLOAD = ("download-report", "Report (PDF)")
"""The printable report (made on request by app/cases/report.py) is offered with every result."""


def _fixed(value: float, digits: int) -> str:
    """Return `value` with `digits` decimals, never "-0.0" (a rounding artefact)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _chart(result: dict[str, Any]) -> Chart | None:
    probabilities = result.get("probabilities")
    if probabilities is None:
        return None
    std = (result.get("uncertainty") or {}).get("std") or {}
    bars = []
    for row, letter in enumerate(CLASSES):
        p = float(probabilities[letter])
        s = float(std.get(letter) or 0.0)
        y = row * CHART_ROW + 4
        whisker = None
        if s > 0:
            whisker = (_fixed(CHART_LEFT + CHART_WIDTH * max(p - s, 0.0), 2),
                       _fixed(CHART_LEFT + CHART_WIDTH * min(p + s, 1.0), 2), y + 13)
        bars.append(Bar(
            letter=letter, name=CLASS_NAMES[letter], percent=_fixed(p * 100, 1),
            data_p=f"{p:.6f}", spread=_fixed(s * 100, 1) if s > 0 else None,
            top=letter == result.get("class"), y=y, text_y=y + 18,
            width=_fixed(CHART_WIDTH * p, 2), whisker=whisker,
        ))
    description = ", ".join(f"{bar.letter} {bar.percent}%" for bar in bars)
    return Chart(tuple(bars), len(bars) * CHART_ROW + 6, description)


def _agreement(result: dict[str, Any]) -> tuple[str | None, str | None]:
    uncertainty = result.get("uncertainty") or {}
    agreement = uncertainty.get("agreement")
    if agreement is None or result.get("class") is None:
        return None, None
    slices = uncertainty.get("slices") or []
    count = len(slices) or "the"
    text = f"{_fixed(agreement * 100, 0)}% of {count} slices vote {result['class']}"
    return text, ", ".join(str(s) for s in slices) or None


def _timings(timings: dict[str, float]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    stages = tuple((stage, f"{_fixed(seconds, 1)} s")
                   for stage, seconds in timings.items() if stage != "total")
    if "total" in timings:
        return f"{_fixed(timings['total'], 1)} s", stages
    # An old summary without a total: its stages are all there is.
    return (f"{_fixed(sum(timings.values()), 1)} s" if timings else None), stages


CONFIRMED_NOTE = ("You kept your assignment of the files after the sequence check warned about "
                  "it; the analysis used the files in the slots you chose.")


def _sequence_check(section: dict[str, Any] | None) -> SequenceCheck | None:
    if section is None:
        return None
    calls = []
    for slot in SEQUENCES:
        call = section["slots"][slot]
        spread = _fixed(float(call.get("spread") or 0.0) * 100, 1)
        suggested = section["assignment"].get(slot, slot)
        calls.append(SlotCall(
            slot=slot, slot_label=SEQUENCE_LABELS[slot],
            detected_label=SEQUENCE_LABELS.get(call["detected"], call["detected"]),
            percent=_fixed(float(call["probability"]) * 100, 1),
            data_p=f"{float(call['probability']):.6f}",
            spread=None if spread == "0.0" else spread,  # below 0.05 points: not worth a "±"
            matches=call["detected"] == slot,
            suggested=suggested, suggested_label=SEQUENCE_LABELS.get(suggested, suggested),
            moves=suggested != slot,
        ))
    differs = bool(section.get("differs"))
    confirmed = bool(section.get("confirmed_by_user")) and differs
    return SequenceCheck(
        calls=tuple(calls), message=str(section.get("message") or ""), differs=differs,
        confirmed=confirmed, confirmed_note=CONFIRMED_NOTE if confirmed else None,
        t1_t1ce_message=section.get("t1_t1ce_message"),
    )


def model_facts(block: dict[str, Any], task: str | None) -> ModelFacts:
    """Return what the page says of one model block (`ModelSchema`) of `task`."""
    sha = block.get("weights_sha256") or None
    return ModelFacts(
        task=task, role=MODEL_ROLES.get(task or "", task or "model"),
        name=block.get("name") or "—", version=block.get("version") or "—",
        demo=bool(block.get("demo")),
        # The page ends the sentence itself: "No patient data." must not become "data..".
        training_data=str(block.get("training_data") or "").strip().rstrip(".") or None,
        weights_sha256=sha, weights_short=sha[:16] if sha else None,
    )


def _sequences(case: Case) -> tuple[Volume, ...]:
    volumes = []
    for sequence in SEQUENCES:
        scan = case.scan_for(sequence)
        if scan is None:
            continue
        suffix = ".nii.gz" if scan.stored_path.endswith(".gz") else ".nii"
        volumes.append(Volume(sequence, SEQUENCE_LABELS[sequence],
                              url_for("cases.scan", case_id=case.id, sequence=sequence),
                              sequence + suffix))
    return tuple(volumes)


def _viewer_hint(slice_index: int | None, overlays: tuple[Volume, ...]) -> str:
    """Return the 3D view's hint: where the crosshair starts, then the overlays the case has
    (an early end may leave none: a scan unlike the training data is never segmented)."""
    start = ("The crosshair starts on the chosen slice." if slice_index is not None
             else "The crosshair starts in the middle of the scan.")
    shown = "; ".join(OVERLAY_HINTS[o.key] for o in overlays if o.key in OVERLAY_HINTS)
    return f"{start} {shown[:1].upper() + shown[1:]}." if shown else f"{start} {NO_OVERLAY_HINT}"


def _artefact_url(case: Case, name: str, **args: Any) -> str:
    return url_for("cases.artefact", case_id=case.id, name=name, **args)


def build_result_page(case: Case) -> ResultPage | None:
    """Return the view model of a case's result, or None until it is done or needs review.

    Built from `ResultSchema`, the same result the API and the status endpoint return; figures,
    overlays and downloads are offered for the artefacts that exist. Needs a request context
    (it builds URLs).
    """
    if not has_result(case):
        return None
    result = ResultSchema().dump(case.prediction)
    decided_by = result["decided_by"]
    agreement, agreement_slices = _agreement(result)
    entropy = (result.get("uncertainty") or {}).get("entropy")
    volume = result.get("candidate_volume_ml")
    analysis_time, stage_times = _timings(result["timings"])
    present = set(existing_artefacts(case))
    outcome = result["outcome"]
    case_label = case.pseudonym or case.id[:8]
    needs_review = outcome == Outcome.NEEDS_REVIEW.value and case.status == outcome
    findings = build_findings(result)
    overlays = tuple(Volume(key, label, _artefact_url(case, name), name, opacity)
                     for key, label, name, opacity in OVERLAYS
                     if name in present and REPLACES.get(key) not in present)
    review = None
    if needs_review:
        review = SequenceReview(
            message=result.get("message") or "The files may sit in the wrong slots.",
            reassign_url=url_for("cases.sequences_reassign", case_id=case.id),
            confirm_url=url_for("cases.sequences_confirm", case_id=case.id),
        )
    return ResultPage(
        outcome=outcome,
        outcome_label=OUTCOME_LABELS.get(outcome, outcome.replace("_", " ").capitalize()),
        demo=result["disclaimer"] is not None,
        class_letter=result.get("class"),
        class_name=result.get("class_name"),
        grade_group=result.get("grade_group"),
        message=result.get("message"),
        low_confidence=result["low_confidence"],
        no_lesion_found=result["no_lesion_found"],
        candidate_volume=(None if volume is None or findings.measurements
                          else f"{_fixed(volume, 1)} mL"),
        slice_index=result.get("slice_index"),
        slice_method=result.get("slice_method"),
        agreement=agreement,
        agreement_slices=agreement_slices,
        entropy=None if entropy is None else _fixed(entropy, 3),
        chart=_chart(result),
        model=model_facts(result["model"], decided_by),
        other_models=tuple(model_facts(block, task)
                           for task, block in (result.get("models") or {}).items()
                           if task != decided_by and block != result["model"]),
        analysis_time=analysis_time,
        stage_times=stage_times,
        sequences=_sequences(case),
        overlays=overlays,
        viewer_hint=_viewer_hint(result.get("slice_index"), overlays),
        figures=tuple(
            Figure(id_, alt,
                   caption if result.get("class") or id_ != "montage" else UPLOADED_CAPTION,
                   _artefact_url(case, radio),
                   _artefact_url(case, neuro if neuro in present else radio))
            for id_, radio, neuro, alt, caption in FIGURES if radio in present
        ),
        downloads=(
            *(Download(id_, label, _artefact_url(case, name, download=1))
              for id_, label, name in DOWNLOADS if name in present),
            Download(*REPORT_DOWNLOAD, url_for("cases.report", case_id=case.id, download=1)),
        ),
        save_name="gliomalens-" + case_label.replace(" ", "_") + ".png",
        case_label=case_label,
        disclaimer=DEMO_IMAGE_NOTICE if result["disclaimer"] is not None else RESEARCH_IMAGE_NOTICE,
        sequence_check=_sequence_check(result.get("sequences")),
        review=review,
        figures_title=("What the classifier saw" if result.get("class")
                       else "The files as uploaded"),
        findings=findings,
        segment_labels=(segment_labels(result.get("segmentation"))
                        if art.SEGMENTATION_NIFTI in present else ()),
    )
