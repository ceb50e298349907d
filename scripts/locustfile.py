"""Locust users for scripts/loadtest.py (run through it: it seeds the accounts and the phantoms).

Clinician: logs in as its own account (loadtest-NN@example.org), uploads one case when it has
none, then browses: the case list, a case's result page, its status JSON and one of its figures.
Uploader (one): uploads a small 2 mm phantom case every --upload-every seconds.
Options added to locust's (passed by loadtest.py): --password (of every loadtest account),
--phantoms (folder of CID_<seq>.nii.gz files), --upload-every.
"""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

from locust import HttpUser, between, constant_pacing, events, task

SEQUENCES = ("flair", "t1", "t1ce", "t2")
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
CASE_LINK = re.compile(r'href="/cases/([0-9a-f]{32})"')
FIGURE_LINK = re.compile(r'"/cases/[0-9a-f]{32}/files/([^"?]+\.png)')
_accounts = itertools.count()


@events.init_command_line_parser.add_listener
def add_options(parser) -> None:  # noqa: ANN001 (locust's argument parser)
    """Add --password, --phantoms and --upload-every to locust's options."""
    parser.add_argument("--password", default="", help="password of every loadtest account")
    parser.add_argument("--phantoms", default="", help="folder of CID_<sequence>.nii.gz files")
    parser.add_argument("--upload-every", type=float, default=3.0, help="seconds between uploads")


def phantom_cases(folder: str) -> list[dict[str, Path]]:
    """Return the phantom cases in ``folder`` as {sequence: path}; refuses an empty folder."""
    root = Path(folder)
    cids = sorted({p.name.rsplit("_", 1)[0] for p in root.glob("*_flair.nii.gz")})
    if not cids:
        raise SystemExit(f"no *_flair.nii.gz phantom in {root}")
    return [{s: root / f"{cid}_{s}.nii.gz" for s in SEQUENCES} for cid in cids]


class Account(HttpUser):
    """A logged-in user of one loadtest account; the base of both kinds of simulated user."""

    abstract = True

    def on_start(self) -> None:
        """Log in as the next free account; a failed login stops this user."""
        number = next(_accounts)
        self.email = f"loadtest-{number:02d}@example.org"
        page = self.client.get("/login", name="/login")
        token = CSRF.search(page.text)
        with self.client.post(
            "/login",
            data={"email": self.email, "password": self.environment.parsed_options.password,
                  "csrf_token": token.group(1) if token else ""},
            name="/login (POST)", catch_response=True,
        ) as response:
            if response.url is None or response.url.rstrip("/").endswith("/login"):
                response.failure(f"login as {self.email} failed")
                self.stop()
        self.case_ids: list[str] = []

    def upload(self, name: str) -> None:
        """Upload one random phantom case (four .nii.gz files) through the web form."""
        form = self.client.get("/cases/new", name="/cases/new")
        token = CSRF.search(form.text)
        case = random.choice(phantom_cases(self.environment.parsed_options.phantoms))
        handles = {s: open(case[s], "rb") for s in SEQUENCES}  # noqa: SIM115 (closed below)
        try:
            with self.client.post(
                "/cases/new",
                data={"csrf_token": token.group(1) if token else "", "pseudonym": ""},
                files={s: (f"{s}.nii.gz", fh, "application/gzip") for s, fh in handles.items()},
                headers={"Accept": "application/json"},
                name=name, catch_response=True,
            ) as response:
                if response.status_code != 201:
                    response.failure(f"upload: {response.status_code} {response.text[:200]}")
                else:
                    self.case_ids.append(response.json()["id"])
        finally:
            for fh in handles.values():
                fh.close()


class Clinician(Account):
    """Browses its own cases and their result pages."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        """Log in; upload a first case when the account has none."""
        super().on_start()
        page = self.client.get("/cases", name="/cases")
        self.case_ids = CASE_LINK.findall(page.text)
        if not self.case_ids:
            self.upload("/cases/new (POST, first case)")

    @task(3)
    def case_list(self) -> None:
        """The case list (first page)."""
        page = self.client.get("/cases", name="/cases")
        self.case_ids = CASE_LINK.findall(page.text) or self.case_ids

    @task(3)
    def result_page(self) -> None:
        """A case's result page, and one of its figures when the analysis is done."""
        if not self.case_ids:
            return
        case_id = random.choice(self.case_ids)
        page = self.client.get(f"/cases/{case_id}", name="/cases/[id]")
        figures = FIGURE_LINK.findall(page.text)
        if figures:
            self.client.get(f"/cases/{case_id}/files/{figures[0]}", name="/cases/[id]/files/[png]")

    @task(2)
    def status(self) -> None:
        """The status JSON a running case's page polls."""
        if self.case_ids:
            self.client.get(f"/cases/{random.choice(self.case_ids)}/status",
                            name="/cases/[id]/status")


class Uploader(Account):
    """One user uploading a case at a steady pace."""

    fixed_count = 1

    def wait_time(self) -> float:
        """Return the wait that keeps one upload starting every --upload-every seconds."""
        return constant_pacing(self.environment.parsed_options.upload_every)(self)

    @task
    def upload_case(self) -> None:
        """Upload one phantom case."""
        self.upload("/cases/new (POST, stream)")
