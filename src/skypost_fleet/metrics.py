"""Prometheus metrics of the fleet (prometheus_client, its own registry, served on ~metrics_port)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from skypost_fleet.model import TERMINAL, Delivery, State

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class FleetMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_depth = Gauge(
            "skypost_fleet_queue_depth", "Deliveries waiting for a drone", registry=self.registry
        )
        self.active = Gauge(
            "skypost_fleet_deliveries_active",
            "Deliveries assigned and not yet finished",
            registry=self.registry,
        )
        self.dispatch_latency = Histogram(
            "skypost_fleet_dispatch_latency_seconds",
            "Accepted -> Deliver goal sent",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "skypost_fleet_deliveries_total",
            "Deliveries that reached a terminal state",
            ["outcome"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "skypost_fleet_transitions_total", "Delivery transitions", ["state"], registry=self.registry
        )
        self.drones = Gauge(
            "skypost_fleet_drones", "Drones by availability", ["status"], registry=self.registry
        )
        self.server = None

    def serve(self, port: int, address: str) -> int:
        """Start the HTTP endpoint; returns the port really used."""
        self.server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return int(self.server.server_port)

    def on_transition(self, d: Delivery) -> None:
        self.transitions.labels(d.state.name).inc()
        if d.state in TERMINAL:
            self.outcomes.labels(d.state.name.lower()).inc()
        if (
            d.state == State.IN_FLIGHT
            and d.attempts
            and not math.isnan(d.dispatch_latency)
            and d.goal_sent_at == d.updated
        ):
            self.dispatch_latency.observe(d.dispatch_latency)

    def on_summary(self, queued: int, active: int, drones: dict[str, int]) -> None:
        self.queue_depth.set(queued)
        self.active.set(active)
        for status, count in drones.items():
            self.drones.labels(status).set(count)

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.shutdown()
