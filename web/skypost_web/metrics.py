"""Prometheus metrics: request counts and latency per endpoint, plus gauges read from the database at scrape time."""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select


class _DatabaseCollector:
    """Orders by status and outbox rows by status, counted when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        from skypost_web.extensions import db
        from skypost_web.models import Order, OutboxMessage

        orders = GaugeMetricFamily("skypost_web_orders", "Orders by status", labels=["status"])
        outbox = GaugeMetricFamily("skypost_web_outbox", "Outbox messages by status", labels=["status"])
        try:
            with self.app.app_context():
                for status, count in db.session.execute(select(Order.status, func.count()).group_by(Order.status)):
                    orders.add_metric([status], count)
                for status, count in db.session.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)):
                    outbox.add_metric([status], count)
                db.session.remove()
        except Exception:  # a scrape must still answer while the database is down (/health says why)
            pass
        yield orders
        yield outbox


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    own = registry  # where this process's request metrics are registered
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        # Every worker's values (this one's included) reach /metrics through the shared files; registered in the
        # served registry as well, this process's series would appear twice.
        multiprocess.MultiProcessCollector(registry)
        own = CollectorRegistry()
    requests_total = Counter("skypost_web_requests_total", "HTTP requests", ["method", "endpoint", "status"],
                             registry=own)
    latency = Histogram("skypost_web_request_seconds", "HTTP request latency", ["endpoint"], registry=own)
    registry.register(_DatabaseCollector(app))
    app.extensions["skypost_metrics"] = {"registry": registry, "requests": requests_total}

    @app.before_request
    def _start_timer() -> None:
        g.skypost_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("skypost_started")
        if started is not None:
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    from skypost_web.extensions import limiter

    @app.get("/metrics")
    @app.doc(hide=True)
    @limiter.exempt
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
