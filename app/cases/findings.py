"""What the result page and the PDF report say about the tumour: its type, how typical the scan
is of the training data, and the segmentation's measurements (issues 13 and 15).

`build_findings` turns the result (`ResultSchema`'s dump, the one shape of a result) into typed,
formatted data; templates/cases/_findings.html and app/cases/report.py only lay it out. Pure
Python: no request context, no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.pipeline.classes import TUMOUR_TYPE_NAMES, TUMOUR_TYPES
from app.pipeline.lesion.segmentation_card import BRATS_LABELS


@dataclass(frozen=True)
class SegmentLabel:
    """One sub-region of the label map: its BraTS value, key (element ids), name and colour."""

    value: int
    key: str
    name: str
    colour: str  # "#D55E00"


# Okabe-Ito colours, told apart with every common colour-vision deficiency (and by lightness):
# reddish purple, sky blue, vermillion. No yellow: the Grad-CAM map's high end is yellow. The
# viewer's label map and its legend use these.
SEGMENT_STYLES: tuple[tuple[int, str, str], ...] = (
    (1, "necrosis", "#CC79A7"),
    (2, "oedema", "#56B4E9"),
    (4, "enhancing", "#D55E00"),
)
"""(BraTS label value, key, colour) of each sub-region, in the legend's order."""


@dataclass(frozen=True)
class TypeRow:
    """One tumour type and its calibrated probability."""

    key: str
    name: str
    percent: str  # "93.0"
    data_p: str  # "0.930000", for scripts and tests
    top: bool


@dataclass(frozen=True)
class TumourTypeFacts:
    """The tumour-type model's answer, formatted."""

    key: str | None  # "meningioma"; None when the scan is out of distribution
    name: str | None  # None when the scan is out of distribution
    percent: str  # the top probability, "93.0"
    rows: tuple[TypeRow, ...]
    low_confidence: bool
    out_of_distribution: bool
    ood_score: str | None  # "41.2"
    ood_threshold: str | None


@dataclass(frozen=True)
class MeasurementRow:
    """One line of the measurements table."""

    key: str  # element id suffix and the measurements' key
    label: str
    value: str
    detail: str | None = None


@dataclass(frozen=True)
class Findings:
    """Tumour type, in-distribution score and measurements of a result; empty parts are falsy."""

    tumour_type: TumourTypeFacts | None
    in_distribution: str | None  # "0.420"
    in_distribution_note: str | None
    measurements: tuple[MeasurementRow, ...]
    segment_labels: tuple[SegmentLabel, ...]
    min_tumour_ml: str | None  # "0.5 mL"

    @property
    def any(self) -> bool:
        """Return whether there is anything to show."""
        return bool(self.tumour_type or self.in_distribution or self.measurements)


def _fixed(value: float, digits: int) -> str:
    text = f"{float(value):.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _ml(value: float) -> str:
    return f"{_fixed(value, 1)} mL"


def segment_labels(section: dict[str, Any] | None) -> tuple[SegmentLabel, ...]:
    """Return the sub-regions of a segmentation section, named by its `labels` (the model's
    words; the BraTS names for an older section), in SEGMENT_STYLES order."""
    names = {**BRATS_LABELS, **((section or {}).get("labels") or {})}
    return tuple(SegmentLabel(value, key, str(names.get(str(value), key)).capitalize(), colour)
                 for value, key, colour in SEGMENT_STYLES)


def _type_facts(section: dict[str, Any] | None) -> TumourTypeFacts | None:
    if section is None:
        return None
    probabilities = section.get("probabilities") or {}
    ood = bool(section.get("out_of_distribution"))
    top = section.get("tumour_type")
    rows = tuple(
        TypeRow(key, TUMOUR_TYPE_NAMES[key], _fixed(float(probabilities[key]) * 100, 1),
                f"{float(probabilities[key]):.6f}", key == top and not ood)
        for key in TUMOUR_TYPES if key in probabilities
    )
    score, threshold = section.get("ood_score"), section.get("ood_threshold")
    return TumourTypeFacts(
        key=None if ood else top,
        name=None if ood else section.get("tumour_type_name"),
        percent=_fixed(float(section.get("top_probability") or 0.0) * 100, 1),
        rows=rows,
        low_confidence=bool(section.get("low_confidence")),
        out_of_distribution=ood,
        ood_score=None if score is None else _fixed(score, 1),
        ood_threshold=None if threshold is None else _fixed(threshold, 1),
    )


LATERALITY = {"left": "Left", "right": "Right", "bilateral": "Bilateral", "none": "None"}


def measurement_rows(m: dict[str, Any]) -> tuple[MeasurementRow, ...]:
    """Return the measurements table of a `measurements` dict (MeasurementsSchema's keys).

    Volumes in mL with one decimal; laterality with each side's volume; lesions of at least
    1 mL and whether that makes the tumour multifocal; midline crossing; the RANO longest x
    perpendicular diameter, their product and the slice (or a dash without enhancing tumour).
    """
    bi = m.get("bidimensional")
    if bi:
        rano = (f"{_fixed(bi['longest_mm'], 1)} × {_fixed(bi['perpendicular_mm'], 1)} mm "
                f"(product {_fixed(bi['product_mm2'], 0)} mm²)")
        rano_detail = f"on axial slice {int(bi['slice_index'])}"
    else:
        rano, rano_detail = "—", "no enhancing tumour to measure"
    lesions = int(m["lesions"])
    return (
        MeasurementRow("wt", "Whole tumour (WT)", _ml(m["wt_ml"]), "labels 1 + 2 + 4"),
        MeasurementRow("tc", "Tumour core (TC)", _ml(m["tc_ml"]), "labels 1 + 4"),
        MeasurementRow("et", "Enhancing tumour (ET)", _ml(m["et_ml"]), "label 4"),
        MeasurementRow("necrosis", "Necrotic / non-enhancing core", _ml(m["necrosis_ml"]),
                       "label 1"),
        MeasurementRow("oedema", "Oedema", _ml(m["oedema_ml"]), "label 2"),
        MeasurementRow("laterality", "Laterality", LATERALITY.get(m["laterality"],
                                                                  str(m["laterality"])),
                       f"patient's left {_ml(m['left_ml'])}, right {_ml(m['right_ml'])}"),
        MeasurementRow("lesions", "Lesions of 1 mL or more",
                       f"{lesions} ({'multifocal' if m['multifocal'] else 'not multifocal'})"),
        MeasurementRow("midline", "Crosses the midline",
                       "Yes" if m["crosses_midline"] else "No"),
        MeasurementRow("rano", "RANO bidimensional (ET)", rano, rano_detail),
    )


def build_findings(result: dict[str, Any]) -> Findings:
    """Return the Findings of a dumped result (`ResultSchema().dump(prediction)`).

    Missing sections (no segmentation or tumour-type model ran) give None / empty parts.
    """
    segmentation = result.get("segmentation")
    in_distribution = result.get("in_distribution")
    min_ml = (segmentation or {}).get("min_tumour_ml")
    return Findings(
        tumour_type=_type_facts(result.get("tumour_type")),
        in_distribution=None if in_distribution is None else _fixed(in_distribution, 3),
        in_distribution_note=None if in_distribution is None else (
            "the share of validation scans at least as unusual: near 1 typical of the "
            "training data, near 0 unlike anything it held"),
        measurements=measurement_rows(segmentation["measurements"]) if segmentation else (),
        segment_labels=segment_labels(segmentation) if segmentation else (),
        min_tumour_ml=None if min_ml is None else f"{_fixed(min_ml, 1)} mL",
    )
