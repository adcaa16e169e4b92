"""gunicorn settings of the web image (docker/web.Dockerfile), also used by bench/bench_rest.py.

Workers: WEB_CONCURRENCY (gunicorn's own variable; the image sets 4). The bind address comes from the command
line (compose.yaml binds 127.0.0.1:8080 behind nginx). Prometheus: with PROMETHEUS_MULTIPROC_DIR set, every
worker writes its metrics there and /metrics adds them up, so the directory is emptied when gunicorn starts and a
dead worker's gauges are dropped.
"""
import os
import shutil
from typing import Any

accesslog = "-"
worker_class = "sync"
# nginx on the same host sets X-Forwarded-Proto; only it is trusted to
forwarded_allow_ips = "127.0.0.1"


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
