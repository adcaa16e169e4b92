"""/metrics under gunicorn with several workers (PROMETHEUS_MULTIPROC_DIR): every worker's requests are counted,
each series once. prometheus_client picks its multiprocess mode at import, so each "worker" is a subprocess."""
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

WORKER = textwrap.dedent("""
    import sys
    from skypost_web import create_app
    from skypost_web.extensions import db

    app = create_app({"DATABASE_URL": "sqlite:///" + sys.argv[1], "ROS_LINK": "none", "RATELIMIT_ENABLED": False},
                     environ={})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    for _ in range(int(sys.argv[2])):
        assert client.get("/health").status_code == 200
    print(client.get("/metrics").get_data(as_text=True))
""")


def worker(tmp_path, requests: int) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    done = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "web.sqlite"), str(requests)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def health_series(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith("skypost_web_requests_total{") and 'endpoint="/health"' in line]


def test_every_worker_is_counted_once(tmp_path):
    (tmp_path / "metrics").mkdir()
    worker(tmp_path, 2)
    text = worker(tmp_path, 3)  # another process: sees the first one's counts through the shared directory
    assert health_series(text) == ['skypost_web_requests_total{endpoint="/health",method="GET",status="200"} 5.0']
    assert text.count("# TYPE skypost_web_requests_total counter") == 1
