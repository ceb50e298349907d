"""The printable PDF report: rendered from the stored result, page 1 is a real picture (pdftoppm),
the right facts for each outcome, owner-only routes that are never cached."""

from __future__ import annotations

import shutil
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import storage
from app.cases.report import render_report
from app.pipeline.outcomes import OUTCOMES
from tests.conftest import login
from tests.factories import make_prediction, write_artefacts
from tests.sections import outcome_summary, write_real_artefacts

PDFTOPPM = shutil.which("pdftoppm")


@pytest.fixture
def report_case(case_factory):
    """A finished case of `outcome` with the real stages' sections and real figures."""

    def make(outcome: str = "subtype", *, saliency: bool = True, **case_fields):
        case = case_factory(pseudonym="PH 9", **case_fields)
        summary = outcome_summary(outcome)
        make_prediction(case, summary=summary)
        write_real_artefacts(storage.results_dir(case.id), saliency=saliency, summary=summary)
        return case, summary

    return make


def page_images(pdf: bytes, tmp_path: Path, dpi: int = 60) -> list[np.ndarray]:
    """Render every page of `pdf` with pdftoppm; return them as RGB arrays."""
    if PDFTOPPM is None:
        pytest.fail("pdftoppm missing: run `make setup` (Debian package poppler-utils)")
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run([PDFTOPPM, "-r", str(dpi), "-png", str(source), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    return [np.asarray(Image.open(p).convert("RGB")) for p in pages]


def pdf_text(pdf: bytes) -> str:
    """The text drawn on the PDF's pages, from its (Flate-compressed) content streams."""
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, check=True,
                              capture_output=True, timeout=60).stdout.decode()
    chunks = []
    for part in pdf.split(b"stream")[1:]:
        body = part.split(b"endstream")[0].strip(b"\r\n")
        try:
            chunks.append(zlib.decompress(body).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(chunks)


def test_page_one_is_a_real_picture(report_case, tmp_path):
    case, _ = report_case("subtype")
    pdf = render_report(case, now=datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert pdf.startswith(b"%PDF-")
    pages = page_images(pdf, tmp_path)
    assert len(pages) >= 2
    first = pages[0].astype(np.float32)
    ink = (first.mean(axis=-1) < 200).mean()
    assert 0.02 < ink < 0.6, f"page 1 is blank or a block ({ink:.3f} of the pixels are ink)"
    # The demo-model warning box (pale yellow) is on page 1.
    yellow = (first[..., 0] > 240) & (first[..., 1] > 230) & (first[..., 2] < 215)
    assert yellow.sum() > 500
    # The montage (with its orange tumour outline) and the Grad-CAM figure follow.
    later = np.concatenate([p.reshape(-1, 3) for p in pages]).astype(np.int16)
    orange = ((later[:, 0] > 200) & (later[:, 1] > 120) & (later[:, 1] < 190)
              & (later[:, 2] < 60))
    assert orange.sum() > 20
    Image.fromarray(pages[0]).save(tmp_path / "checked-page-1.png")


def test_subtype_report_has_the_facts(report_case):
    case, summary = report_case("subtype")
    text = pdf_text(render_report(case))
    assert case.id in text and "PH 9" in text
    assert "class G" in text and "Glioblastoma, IDH-wildtype" in text
    assert "80.0%" in text  # the class probability
    assert "vote G" in text and "entropy" in text  # its uncertainty
    assert "Most likely Glioma" in text and "In-distribution score" in text
    m = summary["segmentation"]["measurements"]
    assert f"{m['wt_ml']:.1f} mL" in text and "RANO bidimensional" in text
    assert "Montage" in text and "Grad-CAM" in text
    assert "glioma-demo" in text  # the models table (the shipped subtype card)
    assert "decided by the subtype model (A / O / G) glioma-demo" in " ".join(text.split())
    assert text.count("trained on synthetic phantoms only, not for clinical use") >= 2


@pytest.mark.parametrize("outcome", [o for o in OUTCOMES if o != "subtype"])
def test_other_outcomes_give_the_message_and_no_class(report_case, outcome):
    case, summary = report_case(outcome, saliency=False)
    text = pdf_text(render_report(case))
    first_line = summary["message"].split(":")[0]
    assert first_line in " ".join(text.split())
    assert "No glioma subtype is given" in text
    assert "Probability" not in text and "vote" not in text
    assert "Grad-CAM" not in text  # no saliency figure for an early end


@pytest.mark.parametrize(("outcome", "role", "name"), [
    ("not_glioma", "tumour-type model", "tumour-type-demo"),
    ("no_tumour", "segmentation model", "segmentation-demo"),
])
def test_the_report_credits_the_model_that_decided(report_case, outcome, role, name):
    case, summary = report_case(outcome, saliency=False)
    text = " ".join(pdf_text(render_report(case)).split())
    version = summary["models"][summary["decided_by"]]["version"]
    assert f"The outcome was decided by the {role} {name}, version {version}" in text
    assert "Training data:" in text and "No patient data" in text
    assert "292 synthetic glioma phantoms" not in text and "glioma-demo" not in text
    assert text.count("trained on synthetic phantoms only, not for clinical use") >= 2


def test_a_damaged_figure_is_left_out_not_the_report(case_factory, tmp_path):
    case = case_factory()
    make_prediction(case)
    write_artefacts(case)  # stand-in bytes, not real PNGs
    pdf = render_report(case)
    text = pdf_text(pdf)
    assert "Measurements" in text and "Montage" not in text
    assert len(page_images(pdf, tmp_path)) >= 1


def test_report_route_is_owner_only_and_never_cached(app, logged_in_client, report_case,
                                                      other_user):
    case, _ = report_case()
    response = logged_in_client.get(f"/cases/{case.id}/report.pdf?download=1")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.get_data().startswith(b"%PDF-")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=gliomalens-report-PH_9.pdf")
    inline = logged_in_client.get(f"/cases/{case.id}/report.pdf")
    assert "attachment" not in inline.headers.get("Content-Disposition", "")
    other = app.test_client()
    login(other, other_user.email)
    assert other.get(f"/cases/{case.id}/report.pdf").status_code == 404
    assert app.test_client().get(f"/cases/{case.id}/report.pdf").status_code in (302, 401)


def test_no_report_before_a_result(logged_in_client, case_factory):
    running = case_factory(status="running", stage="classifying", percent=40)
    assert logged_in_client.get(f"/cases/{running.id}/report.pdf").status_code == 404
