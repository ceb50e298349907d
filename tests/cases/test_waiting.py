"""The waiting page: the stage in words, the place in the queue; a failure says what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models.case import FailureKind
from app.worker.state import fail_case
from tests.cases.test_pages import page
from tests.factories import make_case


@pytest.fixture
def queue(db, user, other_user):
    """Three queued cases, sent to the queue one minute apart (one of another user)."""
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    return [make_case(owner, pseudonym=f"Q-{i}", enqueued_at=start + timedelta(minutes=i))
            for i, owner in enumerate((other_user, user, user))]


def test_queued_case_shows_its_place_in_the_queue_and_the_stage_in_words(
        logged_in_client, queue):
    third = queue[2]
    p = page(logged_in_client.get(f"/cases/{third.id}"))
    assert "hidden" not in p.by_id["queue-place"]
    html = logged_in_client.get(f"/cases/{third.id}").get_data(as_text=True)
    assert '<strong id="queue-position">3</strong>' in html
    assert '<span id="stage">Waiting for a free worker</span>' in html
    status = logged_in_client.get(f"/cases/{third.id}/status").get_json()
    assert status["queue_position"] == 3
    assert status["stage_label"] == "Waiting for a free worker"


def test_the_place_moves_up_as_cases_ahead_start(db, logged_in_client, queue):
    queue[0].status = "running"
    queue[0].stage = "Locating the tumour"
    db.session.commit()
    assert logged_in_client.get(f"/cases/{queue[2].id}/status").get_json()["queue_position"] == 2
    assert logged_in_client.get(f"/cases/{queue[1].id}/status").get_json()["queue_position"] == 1


def test_a_running_case_has_no_place_and_shows_the_workers_stage(logged_in_client, case_factory):
    case = case_factory(status="running", stage="loading", percent=1)
    status = logged_in_client.get(f"/cases/{case.id}/status").get_json()
    assert status["queue_position"] is None
    assert status["stage_label"] == "Starting the analysis"


def test_refused_input_offers_upload_again_not_re_run(logged_in_client, case_factory):
    case = case_factory(status="running")
    fail_case(case.id, "FLAIR: the volume is all zero.", FailureKind.REFUSED)
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert p.by_id["upload-again"]["href"] == "/cases/new"
    assert "rerun" not in p.by_id
    assert logged_in_client.get(f"/cases/{case.id}/status").get_json()["error_kind"] == "refused"


@pytest.mark.parametrize("kind", [FailureKind.INTERNAL, None])
def test_internal_failure_offers_re_run(db, logged_in_client, case_factory, kind):
    case = case_factory(status="running")
    fail_case(case.id, "An internal error stopped the analysis.", FailureKind.INTERNAL)
    if kind is None:  # failed before kinds were stored
        case.failure_kind = None
        db.session.commit()
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert p.by_id["rerun"]["type"] == "submit"
    assert "upload-again" not in p.by_id
    assert logged_in_client.get(f"/cases/{case.id}/status").get_json()["error_kind"] == "internal"
