from datetime import timedelta

from app.models import WorkerStatus
from app.models.base import utcnow
from app.worker.registry import count_case, record_model, register_worker, touch


def test_health_page_lists_online_workers_with_device_and_model(admin_client, db):
    register_worker("worker1@host", 4242)
    record_model("worker1@host", "CPU (2 threads)", "glioma-demo", "1.0", "f" * 64)
    count_case("worker1@host")
    register_worker("old@host", 1)
    db.session.get(WorkerStatus, "old@host").last_seen_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    page = admin_client.get("/admin/workers").get_data(as_text=True)
    assert "worker1@host" in page and "CPU (2 threads)" in page and "glioma-demo" in page
    assert "old@host" not in page


def test_health_page_says_when_no_worker_is_online(admin_client):
    assert b'id="no-workers"' in admin_client.get("/admin/workers").data


def test_health_page_is_for_admins_only(logged_in_client):
    assert logged_in_client.get("/admin/workers").status_code == 404


def test_workers_cli(runner, db):
    assert runner.invoke(args=["workers"]).exit_code == 1
    register_worker("worker1@host", 7)
    record_model("worker1@host", "GPU:0 NVIDIA H100", "glioma-demo", "1.0", "a" * 64)
    result = runner.invoke(args=["workers"])
    assert result.exit_code == 0 and "GPU:0 NVIDIA H100" in result.output


def test_record_model_creates_the_row_when_the_parent_has_not_yet(db):
    # The pool child loads its model and may report before the parent registers the worker.
    record_model("early@host", "CPU", "glioma-demo", "1.1", "c" * 64)
    row = db.session.get(WorkerStatus, "early@host")
    assert (row.device, row.model_name, row.model_version) == ("CPU", "glioma-demo", "1.1")
    assert row.started_at is not None and row.last_seen_at is not None and row.cases_done == 0
    register_worker("early@host", 99)
    db.session.expire_all()
    row = db.session.get(WorkerStatus, "early@host")
    assert (row.pid, row.model_name) == (99, "glioma-demo")


def test_count_case_and_touch_create_a_missing_row_and_count_on(db):
    count_case("gone@host")
    touch("other@host")
    count_case("gone@host")
    db.session.expire_all()
    assert db.session.get(WorkerStatus, "gone@host").cases_done == 2
    assert db.session.get(WorkerStatus, "other@host").cases_done == 0


def test_last_seen_shows_the_date_and_the_time_zone(admin_client, db):
    register_worker("worker1@host", 4242)
    html = admin_client.get("/admin/workers").get_data(as_text=True)
    seen = db.session.get(WorkerStatus, "worker1@host").last_seen_at
    assert seen.strftime("%Y-%m-%d %H:%M:%S UTC") in html
    assert f'<time datetime="{seen.isoformat()}">' in html
