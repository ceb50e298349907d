"""Every page: a skip link to the main content, and element ids that are unique on the page."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest

from app.models.case import FailureKind
from app.worker.state import fail_case
from tests.factories import make_case, make_prediction, write_artefacts


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.first_link: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "a" and self.first_link is None:
            self.first_link = attributes.get("href")


def check(html: str) -> None:
    parser = _Ids()
    parser.feed(html)
    repeated = [i for i, n in Counter(parser.ids).items() if n > 1]
    assert repeated == [], f"ids repeated on the page: {repeated}"
    assert parser.first_link == "#main", "the first link skips to the main content"
    assert "main" in parser.ids


@pytest.fixture
def cases(db, admin):
    done = make_case(admin, pseudonym="P-1")
    make_prediction(done)
    write_artefacts(done)
    failed = make_case(admin, pseudonym="P-2", status="running")
    fail_case(failed.id, "FLAIR: the volume is all zero.", FailureKind.REFUSED)
    running = make_case(admin, status="running", stage="Locating the tumour", percent=40)
    return [done, failed, running]


def test_public_pages(client):
    for path in ("/", "/login"):
        check(client.get(path).get_data(as_text=True))


def test_every_page_of_an_admin(admin_client, cases):
    paths = ["/", "/cases", "/cases/new", "/account", "/admin/users", "/admin/workers",
             *(f"/cases/{case.id}" for case in cases)]
    for path in paths:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        check(response.get_data(as_text=True))
    check(admin_client.post("/account", data={"name": "script"}).get_data(as_text=True))
    check(admin_client.post("/cases/new", data={}).get_data(as_text=True))
