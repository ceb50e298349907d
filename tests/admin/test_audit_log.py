"""The admin audit log page: filters, pagination, case links, the streamed CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from app.admin.audit import CSV_COLUMNS, NO_ACCOUNT_LABEL, PER_PAGE, csv_cell
from app.extensions import db
from app.models import AuditEvent
from tests.factories import make_case

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def add_event(action: str, *, user=None, case_id: str | None = None, detail: str | None = None,
              at: datetime = DAY, count: int = 1) -> AuditEvent:
    event = AuditEvent(action=action, user_id=user.id if user else None, case_id=case_id,
                       detail=detail, remote_addr="127.0.0.1", created_at=at, count=count)
    db.session.add(event)
    db.session.commit()
    return event


def ids_on_page(html: str) -> int:
    """Return how many events the page's table shows."""
    return html.split('id="audit-list"')[1].count("<tr><td>")


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def log(admin, user, other_user):
    """A small log: two users' actions over three days, one case that exists, one deleted."""
    case = make_case(user)
    gone = "f" * 32
    # The admin logged in through the form: that event exists already (today).
    add_event("upload", user=user, case_id=case.id, at=DAY)
    add_event("case_view", user=user, case_id=case.id, at=DAY + timedelta(hours=1))
    add_event("case_delete", user=other_user, case_id=gone, at=DAY + timedelta(days=1))
    add_event("login_failed_unknown", detail="last email tried: =cmd|' /C calc'!A0",
              at=DAY + timedelta(days=2), count=7)
    return {"case": case, "gone": gone}


def test_the_log_lists_events_newest_first_with_case_links(admin_client, log):
    page = admin_client.get("/admin/audit")
    html = page.get_data(as_text=True).split('id="audit-list"')[1]  # the table, not the filters
    assert page.status_code == 200
    assert html.index("login_failed_unknown") < html.index("case_delete") < html.index("upload")
    assert f'href="/cases/{log["case"].id}"' in html
    assert log["gone"] in html and f'href="/cases/{log["gone"]}"' not in html
    assert "×7" in html and NO_ACCOUNT_LABEL in html
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("args", "actions"), [
    ({"action": "upload"}, {"upload"}),
    ({"user": "none"}, {"login_failed_unknown"}),
    ({"date_from": "2026-03-11", "date_to": "2026-03-11"}, {"case_delete"}),
    ({"date_to": "2026-03-10"}, {"upload", "case_view"}),
])
def test_filters_keep_only_matching_events(admin_client, log, args, actions):
    rows = csv_rows(admin_client.get("/admin/audit.csv", query_string=args))
    assert {row["action"] for row in rows} == actions
    page = admin_client.get("/admin/audit", query_string=args).get_data(as_text=True)
    assert ids_on_page(page) == len(rows)


def test_filter_by_user_and_by_case_start(admin_client, log, user, other_user):
    by_user = csv_rows(admin_client.get("/admin/audit.csv", query_string={"user": user.id}))
    assert {row["user"] for row in by_user} == {user.email}
    assert {row["action"] for row in by_user} == {"upload", "case_view"}
    prefix = log["case"].id[:6].upper()  # case-insensitive, a start is enough
    by_case = csv_rows(admin_client.get("/admin/audit.csv", query_string={"case": prefix}))
    assert {row["case_id"] for row in by_case} == {log["case"].id}
    both = csv_rows(admin_client.get("/admin/audit.csv",
                                     query_string={"user": other_user.id, "case": prefix}))
    assert both == []


@pytest.mark.parametrize(("args", "message"), [
    ({"user": "999999"}, "Not a valid choice"),
    ({"action": "no_such_action"}, "Not a valid choice"),
    ({"case": "xyz"}, "hex digits"),
    ({"date_from": "2026-13-01"}, "Not a valid date"),
    ({"date_from": "2026-03-12", "date_to": "2026-03-10"}, "before the start date"),
])
def test_bad_filters_get_a_400_that_says_why(admin_client, log, args, message):
    page = admin_client.get("/admin/audit", query_string=args)
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    export = admin_client.get("/admin/audit.csv", query_string=args)
    assert export.status_code == 400 and message in export.get_data(as_text=True)


def test_pages_keep_the_filters(admin_client, admin, user):
    for i in range(PER_PAGE + 5):
        add_event("case_view", user=user, at=DAY + timedelta(seconds=i))
    first = admin_client.get("/admin/audit?action=case_view").get_data(as_text=True)
    assert ids_on_page(first) == PER_PAGE
    assert 'id="audit-next"' in first and 'id="audit-prev"' not in first
    next_url = first.split('id="audit-next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "action=case_view" in next_url and "page=2" in next_url
    second = admin_client.get(next_url.replace("&amp;", "&")).get_data(as_text=True)
    assert ids_on_page(second) == 5
    assert 'id="audit-prev"' in second and 'id="audit-next"' not in second
    assert admin_client.get("/admin/audit?page=0").status_code == 400
    assert admin_client.get("/admin/audit?page=99999999999999999999").status_code == 400


def test_csv_export_is_streamed_whole_and_safe_for_spreadsheets(admin_client, log,
                                                                monkeypatch):
    monkeypatch.setattr("app.admin.audit.CSV_BATCH", 2)  # several batches from the database
    response = admin_client.get("/admin/audit.csv", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=audit-")
    assert response.is_streamed and "Content-Length" not in response.headers
    rows = csv_rows(response)
    response.close()
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == db.session.query(AuditEvent).count()
    unknown = next(row for row in rows if row["action"] == "login_failed_unknown")
    assert unknown["count"] == "7" and unknown["user"] == NO_ACCOUNT_LABEL
    assert unknown["detail"].startswith("last email tried: =cmd")


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("login", "login"), (None, ""), (7, "7"),
])
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_export_links_carry_the_page_filters(admin_client, log):
    html = admin_client.get("/admin/audit?action=upload&case=ab").get_data(as_text=True)
    link = html.split('id="audit-csv"')[0].rsplit('href="', 1)[1]
    assert link.startswith("/admin/audit.csv?") and "action=upload" in link and "case=ab" in link
