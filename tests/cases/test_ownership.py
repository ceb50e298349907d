"""The ownership check at the route: scans and artefacts of a case are its owner's (and admins')."""

from __future__ import annotations

import pytest

from app import storage
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.render.artefacts import ARTEFACTS
from tests.routes import make_cast, web_client


@pytest.fixture
def cast(app, nifti_case):
    return make_cast(nifti_case)


@pytest.fixture
def case(cast):
    return cast.world().case


def test_another_user_gets_404_for_every_scan_and_artefact(app, cast, case):
    client = web_client(app, cast.other)
    for sequence in SEQUENCES:
        stored = storage.absolute_path(case.scan_for(sequence).stored_path).read_bytes()
        response = client.get(f"/cases/{case.id}/scans/{sequence}")
        assert response.status_code == 404, sequence
        assert stored not in response.data
    for name in ARTEFACTS:
        response = client.get(f"/cases/{case.id}/files/{name}")
        assert response.status_code == 404, name
        response = client.get(f"/cases/{case.id}/files/{name}?download=1")
        assert response.status_code == 404, name
        assert "attachment" not in response.headers.get("Content-Disposition", "")


@pytest.mark.parametrize("principal", ["owner", "admin"])
def test_owner_and_admin_get_the_stored_bytes(app, cast, case, principal):
    client = web_client(app, getattr(cast, principal))
    for sequence in SEQUENCES:
        response = client.get(f"/cases/{case.id}/scans/{sequence}")
        assert response.status_code == 200, sequence
        assert response.data == storage.absolute_path(
            case.scan_for(sequence).stored_path).read_bytes()
        assert response.headers["Cache-Control"] == "no-store"
    for name in ARTEFACTS:
        response = client.get(f"/cases/{case.id}/files/{name}")
        assert response.status_code == 200, name
        assert response.data == (storage.results_dir(case.id) / name).read_bytes()


def test_anonymous_is_sent_to_login_for_scans_and_artefacts(app, case):
    client = app.test_client()
    for url in (f"/cases/{case.id}/scans/flair", f"/cases/{case.id}/files/summary.json"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
