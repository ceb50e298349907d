"""The web process never imports TensorFlow, whatever page it serves."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r'''
import re
import sys
from app import create_app
from app.extensions import db
from tests.factories import make_case, make_prediction, make_user
from tests.conftest import login

app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "INSTANCE_PATH": sys.argv[1],
                  "CELERY": {"broker_url": "memory://"}})
served = []
with app.app_context():
    db.create_all()
    admin = make_user(email="admin@example.org", role="admin")
    case = make_case(admin)
    make_prediction(case)
    client = app.test_client()
    served.append(client.get("/").status_code)
    login(client, admin.email)
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        args = {"case_id": case.id, "name": "summary.json", "sequence": "flair", "token_id": 1}
        url = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(args[m.group(1)]), rule.rule)
        served.append((url, client.get(url).status_code))
assert not any(isinstance(s, tuple) and s[1] >= 500 for s in served), served
print(len(served), "tensorflow" in sys.modules)
'''


def test_web_process_never_imports_tensorflow(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "inst")], cwd=ROOT,
                            capture_output=True, text=True, timeout=180,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    count, imported = result.stdout.split()[-2:]
    assert int(count) > 10
    assert imported == "False"
