"""The cases list as a worklist: search, filters, sorting, columns, pages, validation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.cases.worklist import CASES_PER_PAGE, STATUS_LABELS
from app.models import CaseStatus
from app.pipeline.outcomes import OUTCOME_LABELS
from app.worker.state import finish_case
from tests.factories import make_case, make_prediction, make_summary


def rows(response) -> list[str]:
    """Return the link texts of the listed cases, in order."""
    html = response.get_data(as_text=True)
    return re.findall(r'class="case-link">([^<]*)</a>', html)


@pytest.fixture
def worklist(db, user, other_user):
    """Five cases of `user` (one per kind of result) and one of someone else."""
    glioblastoma = make_case(user, pseudonym="P-0001",
                             created_at=datetime(2026, 3, 1, 9, tzinfo=UTC))
    make_prediction(glioblastoma, cls="G", probabilities={"A": 0.05, "O": 0.05, "G": 0.9})
    unsure = make_case(user, pseudonym="P-0002", created_at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    make_prediction(unsure, cls="A", probabilities={"A": 0.45, "O": 0.35, "G": 0.2},
                    low_confidence=True)
    clean = make_case(user, pseudonym="Q-0003", created_at=datetime(2026, 3, 3, 9, tzinfo=UTC))
    finish_case(clean.id, make_summary(outcome="no_tumour", message="No tumour was found."))
    make_case(user, pseudonym="", status="running", created_at=datetime(2026, 3, 4, 9, tzinfo=UTC))
    make_case(user, pseudonym="P-0005", status="failed",
              created_at=datetime(2026, 3, 5, 9, tzinfo=UTC))
    make_case(other_user, pseudonym="P-0099")
    return user


def test_rows_link_by_pseudonym_or_short_id_and_show_class_probability_and_flags(
        logged_in_client, worklist):
    response = logged_in_client.get("/cases")
    html = response.get_data(as_text=True)
    names = rows(response)
    assert names[0] == "P-0005" and names[2] == "Q-0003" and names[-1] == "P-0001"
    assert re.fullmatch(r"[0-9a-f]{8}", names[1]), "a case without pseudonym links by short id"
    assert "P-0099" not in names
    assert "90%" in html and "45%" in html
    assert OUTCOME_LABELS["no_tumour"] in html
    assert "Low confidence" in html and "Demo model" in html
    assert STATUS_LABELS["failed"] in html


@pytest.mark.parametrize(("query", "expected"), [
    ("q=p-000", ["P-0005", "P-0002", "P-0001"]),
    ("q=50%25", []),  # a literal %, not a wildcard
    ("status=failed", ["P-0005"]),
    ("class=G", ["P-0001"]),
    ("class=no_tumour", ["Q-0003"]),
    ("low_confidence=1", ["P-0002"]),
    ("from=2026-03-02&to=2026-03-03", ["Q-0003", "P-0002"]),
    ("sort=pseudonym&order=asc&status=done", ["P-0001", "P-0002", "Q-0003"]),
    ("sort=probability&order=desc&status=done", ["P-0001", "P-0002", "Q-0003"]),
    ("sort=probability&order=asc&status=done", ["P-0002", "P-0001", "Q-0003"]),
])
def test_filters_and_sorting(logged_in_client, worklist, query, expected):
    response = logged_in_client.get(f"/cases?{query}")
    assert response.status_code == 200
    assert rows(response) == expected


def test_every_status_can_be_filtered(logged_in_client, worklist):
    html = logged_in_client.get("/cases").get_data(as_text=True)
    for status in CaseStatus:
        assert f'<option value="{status.value}"' in html


@pytest.mark.parametrize(("query", "message"), [
    ("status=lost", "Unknown status"),
    ("class=X", "Unknown class"),
    ("sort=owner_id", "Unknown sort"),
    ("order=up", "Unknown order"),
    ("from=31.01.2026", "must look like 2026-01-31"),
    ("from=2026-02-30", "does not exist"),
    ("from=2026-03-05&to=2026-03-01", "before the"),
    ("low_confidence=yes", "low_confidence must be 1"),
    ("q=" + "x" * 65, "longer than 64"),
    ("page=0", "The page must be a whole number"),
])
def test_bad_parameters_get_a_400_that_says_why(logged_in_client, query, message):
    response = logged_in_client.get(f"/cases?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_pages_keep_the_filters(db, logged_in_client, user):
    for i in range(CASES_PER_PAGE + 2):
        make_case(user, pseudonym=f"S-{i:03d}", status="failed")
    first = logged_in_client.get("/cases?status=failed&sort=pseudonym&order=asc")
    html = first.get_data(as_text=True)
    assert len(rows(first)) == CASES_PER_PAGE
    link = re.search(r'href="([^"]+)" id="page-next"', html).group(1).replace("&amp;", "&")
    assert "status=failed" in link and "sort=pseudonym" in link
    second = logged_in_client.get(link)
    assert rows(second) == [f"S-{CASES_PER_PAGE + i:03d}" for i in range(2)]


def test_sort_headers_flip_the_order_and_say_so(logged_in_client, worklist):
    html = logged_in_client.get("/cases?sort=pseudonym&order=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"><a href="/cases?sort=pseudonym" id="sort-pseudonym"' in html


def test_admin_sees_everyones_cases_with_owner(admin_client, worklist):
    response = admin_client.get("/cases?q=P-0099")
    assert rows(response) == ["P-0099"]
    assert "other@example.org" in response.get_data(as_text=True)
