"""The batch script in docs/api.md runs against a live server and writes the promised CSV."""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Case
from app.models.case import FailureKind
from app.worker.state import fail_case, finish_case
from tests.api.conftest import API, SUMMARY, FreshContextApp
from tests.conftest import write_nifti
from tests.factories import make_sequence_check, make_summary

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output to failures
        pass


def batch_script() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    scripts = [b for b in blocks if "def main(" in b]
    assert len(scripts) == 1, "docs/api.md should hold one batch script"
    return scripts[0]


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, FreshContextApp(app),
                                     handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{API}"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def fake_worker(app: Flask) -> Iterator[None]:
    """Finish queued cases in a thread: pseudonyms containing FAIL fail, those with SWAP stop
    for a sequence review, the others are done."""
    stop = threading.Event()
    sequences = make_sequence_check()
    review = make_summary(outcome="needs_review", message=sequences["message"],
                          extra={"sequences": sequences})

    def run() -> None:
        with app.app_context():
            while not stop.is_set():
                for case in db.session.scalars(select(Case).where(Case.status == "queued")).all():
                    if "FAIL" in (case.pseudonym or ""):
                        fail_case(case.id, "FLAIR: no brain found in the image.",
                                  FailureKind.REFUSED)
                    elif "SWAP" in (case.pseudonym or ""):
                        finish_case(case.id, review)
                    else:
                        finish_case(case.id, SUMMARY)
                db.session.remove()  # end the read transaction: see the next uploads
                stop.wait(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    yield
    stop.set()
    thread.join()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cpm"
    folder.mkdir()
    for i, cid in enumerate(["CPM19_CBICA_AAB_1", "CPM19_TCIA_FAIL_2", "CPM19_BAD_GRID_3",
                             "CPM19_SWAP_5"]):
        for j, seq in enumerate(("flair", "t1", "t1ce", "t2")):
            shape = (20, 24, 16) if cid.startswith("CPM19_BAD") and seq == "t2" else (24, 24, 16)
            write_nifti(folder / f"{cid}_{seq}.nii.gz", shape=shape, seed=10 * i + j)
    write_nifti(folder / "CPM19_INCOMPLETE_4_flair.nii")  # no other sequences: skipped
    (folder / "labels.csv").write_text("CPM_RadPath_2019_ID,class\n")
    return folder


def test_batch_script_submits_polls_and_writes_csv(tmp_path, monkeypatch, capsys, live_url,
                                                   fake_worker, token):
    namespace: dict = {"__name__": "gliomalens_batch"}
    exec(compile(batch_script(), str(DOC), "exec"), namespace)  # our own documentation
    monkeypatch.setenv("GLIOMALENS_TOKEN", token)
    out = tmp_path / "results.csv"

    code = namespace["main"]([str(_folder(tmp_path)), str(out), "--url", live_url,
                              "--interval", "0.05", "--timeout", "60"])

    assert code == 1  # not every case is done
    with out.open(newline="") as f:
        rows = {row["case_id"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["CPM19_BAD_GRID_3", "CPM19_CBICA_AAB_1", "CPM19_SWAP_5",
                          "CPM19_TCIA_FAIL_2"]
    done = rows["CPM19_CBICA_AAB_1"]
    assert done["status"] == "done" and done["class"] == "G"
    assert (done["p_A"], done["p_O"], done["p_G"]) == ("0.1000", "0.1000", "0.8000")
    assert done["low_confidence"] == "False" and done["demo_model"] == "True"
    assert len(done["api_id"]) == 32
    failed = rows["CPM19_TCIA_FAIL_2"]
    assert failed["status"] == "failed" and "no brain" in failed["error"] and not failed["class"]
    review = rows["CPM19_SWAP_5"]
    assert review["status"] == "needs_review" and not review["class"]
    assert review["error"].startswith("The file in the FLAIR slot looks like T2")
    refused = rows["CPM19_BAD_GRID_3"]
    assert refused["status"] == "refused (400)" and "T2" in refused["error"]
    assert "skipping CPM19_INCOMPLETE_4" in capsys.readouterr().err
    assert db.session.scalar(select(Case).where(Case.pseudonym == "CPM19_CBICA_AAB_1"))
