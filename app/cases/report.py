"""The printable PDF report of a finished case, made on the server from its stored results.

`render_report` lays out what the result page shows, from the same result (`ResultSchema`) and
findings (app/cases/findings.py): the case, the outcome (the class with its probabilities and
uncertainty only for a subtype; the outcome's message otherwise), the tumour type and
in-distribution score, the measurements, the montage at the chosen slice (radiological, with R/L
markers and the tumour outline), the Grad-CAM image when there is one, the models and the demo-model
disclaimer on every page. The models section credits the model that decided the outcome (the
result's `decided_by`), not the subtype model whatever the outcome. ReportLab (pure Python) draws
it; the web tier needs no system library for it. Made on request, never cached: it always shows the
stored result.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app import storage
from app.cases.findings import Findings, build_findings
from app.cases.results import model_facts
from app.cases.schemas import SUBTYPE, ResultSchema
from app.models import Case
from app.pipeline.classes import CLASS_NAMES, CLASSES
from app.pipeline.outcomes import OUTCOME_LABELS
from app.pipeline.render import artefacts as art

log = logging.getLogger(__name__)

DEMO_WARNING = ("Demo model trained on synthetic phantoms only, not for clinical use: its "
                "suggestions show how GliomaLens works and say nothing about a real patient.")
"""On every page of a report with a demo model's result (the page's banner says the same)."""
RESEARCH_WARNING = "Research use only, not for clinical use."
"""On every page of a report from a site's own model."""

PAGE = A4
MARGIN = 16 * mm
WIDTH = PAGE[0] - 2 * MARGIN
INK = colors.HexColor("#1B2733")
MUTED = colors.HexColor("#5B6770")
RULE = colors.HexColor("#C9D1D8")
WARNING_FILL = colors.HexColor("#FFF3C4")
WARNING_EDGE = colors.HexColor("#B58900")
TOP_FILL = colors.HexColor("#E3EEF7")

# The standard PDF fonts cover Windows-1252 only; a few other characters get ASCII spellings.
_SPELLINGS = {"≥": ">=", "≤": "<=", "→": "->", "≈": "~", "µ": "u"}


def _text(value: Any) -> str:
    """Return `value` as report text: spelled in Windows-1252 and escaped for Paragraph markup."""
    text = str(value)
    for char, spelling in _SPELLINGS.items():
        text = text.replace(char, spelling)
    return escape(text.encode("cp1252", "replace").decode("cp1252"))


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica", fontSize=9.5,
                          leading=12.5, textColor=INK, alignment=TA_LEFT)
    return {
        "title": ParagraphStyle("title", parent=body, fontName="Helvetica-Bold", fontSize=17,
                                leading=21, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=body, fontName="Helvetica-Bold", fontSize=12,
                             leading=15, spaceBefore=9, spaceAfter=4),
        "outcome": ParagraphStyle("outcome", parent=body, fontName="Helvetica-Bold",
                                  fontSize=13, leading=17, spaceAfter=3),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=11),
        "cell_bold": ParagraphStyle("cell_bold", parent=body, fontName="Helvetica-Bold",
                                    fontSize=9, leading=11),
        "warning": ParagraphStyle("warning", parent=body, fontName="Helvetica-Bold",
                                  fontSize=10, leading=13),
    }


def _table(rows: list[list[Any]], widths: list[float], *, header: bool = True,
           highlight: tuple[int, ...] = ()) -> Table:
    """Return a ruled table; the first row bold when `header`; rows in `highlight` shaded."""
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style += [("LINEBELOW", (0, 0), (-1, 0), 0.9, INK)]
    style += [("BACKGROUND", (0, r), (-1, r), TOP_FILL) for r in highlight]
    table.setStyle(TableStyle(style))
    return table


def _image(path: Path, width: float, max_height: float) -> Image | None:
    """Return the PNG at `path` scaled to `width` (at most `max_height`), or None when it
    cannot be read (a missing or damaged artefact leaves the figure out, not the report)."""
    if not path.is_file():
        return None
    try:
        with PILImage.open(path) as png:
            png.load()
            w, h = png.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        log.warning("report: figure %s left out: %s", path.name, exc)
        return None
    scale = min(width / w, max_height / h)
    return Image(str(path), width=w * scale, height=h * scale)


def _case_block(case: Case, result: dict[str, Any], st: dict[str, ParagraphStyle],
                now: datetime) -> list[Flowable]:
    when = case.finished_at or (case.prediction.created_at if case.prediction else None)
    cell = st["cell"]
    rows = [
        ["Case id", Paragraph(_text(case.id), cell), "Pseudonym",
         Paragraph(_text(case.pseudonym or "—"), cell)],
        ["Uploaded", _date(case.created_at), "Analysed", _date(when)],
        ["Report made", _date(now), "Chosen slice",
         Paragraph(_text(_slice(result)), cell)],
    ]
    table = _table(rows, [24 * mm, 64 * mm, 24 * mm, WIDTH - 112 * mm], header=False)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                               ("FONTNAME", (2, 0), (2, -1), "Helvetica-Bold"),
                               ("FONTSIZE", (0, 0), (-1, -1), 9)]))
    return [table]


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def _slice(result: dict[str, Any]) -> str:
    index = result.get("slice_index")
    if index is None:
        return "—"
    method = result.get("slice_method")
    return f"axial {index}" + (f" ({method})" if method else "")


def _outcome_block(result: dict[str, Any], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    outcome = result["outcome"]
    label = OUTCOME_LABELS.get(outcome, outcome.replace("_", " ").capitalize())
    flow: list[Flowable] = [Paragraph("Result", st["h2"])]
    if outcome != SUBTYPE or result.get("class") is None:
        flow.append(Paragraph(_text(label), st["outcome"]))
        if result.get("message"):
            flow.append(Paragraph(_text(result["message"]), st["body"]))
        flow.append(Paragraph("No glioma subtype is given for this outcome.", st["small"]))
        return flow
    letter = result["class"]
    flow.append(Paragraph(
        _text(f"{label}: class {letter}, {result.get('class_name') or CLASS_NAMES[letter]}"
              + (f" ({result['grade_group']})" if result.get("grade_group") else "")),
        st["outcome"]))
    probabilities = result.get("probabilities") or {}
    uncertainty = result.get("uncertainty") or {}
    std = uncertainty.get("std") or {}
    rows: list[list[Any]] = [["Class", "Name", "Probability", "Spread (± SD over slices)"]]
    for c in CLASSES:
        spread = std.get(c)
        rows.append([c, Paragraph(_text(CLASS_NAMES[c]), st["cell"]),
                     f"{float(probabilities.get(c, 0.0)) * 100:.1f}%",
                     "—" if spread is None else f"± {float(spread) * 100:.1f} points"])
    top = (CLASSES.index(letter) + 1,) if letter in CLASSES else ()
    flow.append(_table(rows, [14 * mm, 84 * mm, 26 * mm, WIDTH - 124 * mm], highlight=top))
    facts = []
    if uncertainty.get("agreement") is not None:
        slices = uncertainty.get("slices") or []
        facts.append(f"{float(uncertainty['agreement']) * 100:.0f}% of {len(slices) or 'the'} "
                     f"slices around the chosen one vote {letter}")
    if uncertainty.get("entropy") is not None:
        facts.append(f"entropy {float(uncertainty['entropy']):.3f} (0 = certain)")
    if facts:
        flow.append(Paragraph(_text("Uncertainty: " + "; ".join(facts) + "."), st["body"]))
    if result.get("low_confidence"):
        flow.append(Paragraph("Low confidence: treat this suggestion with extra caution.",
                              st["warning"]))
    if result.get("message"):
        flow.append(Paragraph(_text(result["message"]), st["body"]))
    return flow


def _type_block(findings: Findings, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    facts = findings.tumour_type
    if facts is None and findings.in_distribution is None:
        return []
    flow: list[Flowable] = [Paragraph("Tumour type and training-data check", st["h2"])]
    if facts is not None:
        if facts.out_of_distribution:
            head = "Unlike the training data: no tumour type is given."
        else:
            head = f"Most likely {facts.name} (calibrated p = {facts.percent}%)"
            head += ", low confidence." if facts.low_confidence else "."
        flow.append(Paragraph(_text(head), st["body"]))
        rows: list[list[Any]] = [["Tumour type", "Calibrated probability"]]
        rows += [[row.name, f"{row.percent}%"] for row in facts.rows]
        top = tuple(i + 1 for i, row in enumerate(facts.rows) if row.top)
        flow.append(_table(rows, [60 * mm, 40 * mm], highlight=top))
    if findings.in_distribution is not None:
        flow.append(Spacer(1, 3))
        text = f"In-distribution score {findings.in_distribution} ({findings.in_distribution_note})"
        if facts is not None and facts.ood_score is not None:
            text += (f"; distance to the training data {facts.ood_score}, out of distribution "
                     f"above {facts.ood_threshold}")
        flow.append(Paragraph(_text(text + "."), st["body"]))
    return flow


def _measurements_block(findings: Findings, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph("Measurements", st["h2"])]
    if not findings.measurements:
        flow.append(Paragraph("No segmentation model ran for this case: no measurements.",
                              st["body"]))
        return flow
    rows: list[list[Any]] = [["Measurement", "Value", ""]]
    rows += [[Paragraph(_text(row.label), st["cell"]), Paragraph(_text(row.value), st["cell_bold"]),
              Paragraph(_text(row.detail or ""), st["small"])] for row in findings.measurements]
    flow.append(_table(rows, [54 * mm, 62 * mm, WIDTH - 116 * mm]))
    legend = ", ".join(f"{label.value} {label.name.lower()}" for label in findings.segment_labels)
    flow.append(Paragraph(_text(
        f"From the segmentation (BraTS labels: {legend}); volumes in mL; the RANO diameters on "
        "the axial slice where the enhancing tumour is longest."), st["small"]))
    return flow


def _figures_block(folder: Path, result: dict[str, Any],
                   st: dict[str, ParagraphStyle]) -> list[Flowable]:
    flow: list[Flowable] = []
    index = result.get("slice_index")
    slice_text = "the chosen slice" if index is None else f"axial slice {index}"
    figures = (
        (art.MONTAGE_PNG, "Montage",
         f"{slice_text.capitalize()} in FLAIR, T1, T1ce and T2, radiological convention "
         "(the patient's right on the image's left; R/L markers on each panel); orange outline: "
         "the tumour."),
        (art.GRADCAM_PNG, "Grad-CAM",
         "Where the subtype classifier looked (Grad-CAM saliency over FLAIR, 0 low to 1 high), "
         "radiological convention."),
    )
    for name, title, caption in figures:
        image = _image(folder / name, WIDTH, 95 * mm)
        if image is None:
            continue
        flow.append(KeepTogether([Paragraph(title, st["h2"]), image, Spacer(1, 2),
                                  Paragraph(_text(caption), st["small"])]))
    return flow


def _models_block(result: dict[str, Any], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The model that decided the outcome (with its training data), then every model that ran,
    the deciding one shaded."""
    decided_by = result.get("decided_by")
    facts = model_facts(result["model"], decided_by)
    credit = f"The outcome was decided by the {facts.role} {facts.name}, version {facts.version}"
    credit += (", a demonstration model trained on synthetic phantoms only, not on patient data."
               if facts.demo else ".")
    if facts.training_data:
        credit += f" Training data: {facts.training_data}."
    models = dict(result.get("models") or {})
    if decided_by not in models:
        models = {decided_by or "model": result["model"], **models}
    rows: list[list[Any]] = [["Task", "Model", "Version", "Demo", "Weights SHA-256"]]
    for task, block in models.items():
        sha = block.get("weights_sha256") or ""
        rows.append([Paragraph(_text(task), st["cell"]),
                     Paragraph(_text(block.get("name") or "—"), st["cell"]),
                     _text(block.get("version") or "—"), "yes" if block.get("demo") else "no",
                     (sha[:16] + "…") if sha else "—"])
    top = tuple(i + 1 for i, task in enumerate(models) if task == (decided_by or "model"))
    return [KeepTogether([Paragraph("Models", st["h2"]),
                          Paragraph(_text(credit), st["body"]), Spacer(1, 3),
                          _table(rows, [28 * mm, 46 * mm, 20 * mm, 14 * mm, WIDTH - 108 * mm],
                                 highlight=top)])]


def render_report(case: Case, *, now: datetime | None = None) -> bytes:
    """Return the PDF report of a finished case as bytes.

    ValueError when the case has no result (not done, or re-queued). Missing or unreadable
    figures are left out; everything else comes from the stored result.
    """
    if case.prediction is None:
        raise ValueError("the case has no result to report")
    now = now or datetime.now(UTC)
    result = ResultSchema().dump(case.prediction)
    findings = build_findings(result)
    st = _styles()
    warning = DEMO_WARNING if result["disclaimer"] is not None else RESEARCH_WARNING
    label = case.pseudonym or case.id[:8]

    story: list[Flowable] = [
        Paragraph("GliomaLens case report", st["title"]),
        Paragraph(_text(f"Case {label}"), st["small"]),
        Spacer(1, 5),
        _warning_box(warning, st),
        Spacer(1, 6),
        *_case_block(case, result, st, now),
        *_outcome_block(result, st),
        *_type_block(findings, st),
        *_measurements_block(findings, st),
        *_figures_block(storage.results_dir(case.id), result, st),
        *_models_block(result, st),
    ]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.line(MARGIN, 13 * mm, PAGE[0] - MARGIN, 13 * mm)
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 9 * mm, _plain(warning))
        canvas.drawString(MARGIN, 5.5 * mm, _plain(f"GliomaLens report · case {case.id}"))
        canvas.drawRightString(PAGE[0] - MARGIN, 5.5 * mm, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=18 * mm, title=f"GliomaLens report, case {label}", author="GliomaLens",
        subject="Case report (not for clinical use)", creator="GliomaLens",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _plain(text: str) -> str:
    """Return `text` for canvas drawing (no markup): Windows-1252 only."""
    for char, spelling in _SPELLINGS.items():
        text = text.replace(char, spelling)
    return text.encode("cp1252", "replace").decode("cp1252")


def _warning_box(text: str, st: dict[str, ParagraphStyle]) -> Table:
    box = Table([[Paragraph(_text(text), st["warning"])]], colWidths=[WIDTH])
    box.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), WARNING_FILL),
        ("BOX", (0, 0), (-1, -1), 1, WARNING_EDGE),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
    ]))
    return box


def report_name(case: Case) -> str:
    """Return the report's download name: gliomalens-report-<pseudonym or id prefix>.pdf."""
    return "gliomalens-report-" + (case.pseudonym or case.id[:8]).replace(" ", "_") + ".pdf"
