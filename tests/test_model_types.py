"""The one UTC datetime column type and the one case id rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app.models import Case
from app.models.case import is_case_id, new_case_id
from tests.factories import make_case


def test_sqlite_times_come_back_aware_in_utc(db, user):
    case = make_case(user)
    db.session.expire_all()
    stored = db.session.scalar(text("SELECT created_at FROM cases"))
    assert "+" not in str(stored)  # SQLite keeps no zone ...
    created = db.session.get(Case, case.id).created_at
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)  # ... we add it


def test_other_zones_are_stored_as_utc(db, user):
    paris = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    case = make_case(user, finished_at=paris)
    db.session.expire_all()
    assert db.session.get(Case, case.id).finished_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_naive_times_are_refused_on_write(db, user):
    with pytest.raises(Exception, match="naive datetime"):
        make_case(user, finished_at=datetime(2026, 6, 1, 12, 0))
    db.session.rollback()


@pytest.mark.parametrize("value", ["", "new", "ABCDEF0123456789ABCDEF0123456789", "0" * 31,
                                   "0" * 33, "../" + "0" * 29, "g" * 32, "０" * 32])
def test_what_is_not_a_case_id(value):
    assert not is_case_id(value)


def test_new_ids_are_case_ids(logged_in_client):
    assert is_case_id(new_case_id())
    # The routes use the same rule: a malformed id is not routed at all.
    assert logged_in_client.get("/cases/" + "A" * 32).status_code == 404
