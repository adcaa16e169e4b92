"""The dispatcher/status worker: one long-lived process per site (`skypost-web worker`).

It sends the outbox to the fleet, applies /fleet/delivery_status (or the `delivery_events` queue) to orders,
reconciles open deliveries with /fleet/get_delivery after every (re)connect, caches /fleet/summary for the
admin endpoints and serves /skypost/validate_pickup for the locker nodes. ROS callbacks only enqueue; the
worker's own thread does the database work (the pickup service answers synchronously, in an app context).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from flask import Flask
from sqlalchemy import select

from skypost_web.config import dispatch_transport
from skypost_web.extensions import db, ros
from skypost_web.models import Delivery, FleetSnapshot, utcnow
from skypost_web.ros import names
from skypost_web.ros.fleet import FleetClient
from skypost_web.ros.link import LinkError, RosLink
from skypost_web.services import deliveries
from skypost_web.services.context import apply_policy, pickup_validator
from skypost_web.services.dispatch import BridgeTransport, Dispatcher, Transport
from skypost_web.status import TERMINAL, StatusError, from_message

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, app: Flask, link: RosLink | None = None, transports: dict[str, Transport] | None = None,
                 clock=time.monotonic) -> None:
        self.app = app
        self.config = app.config
        self.link = link or ros.get(app)
        self.fleet = FleetClient(self.link, self.config["BRIDGE_TIMEOUT"])
        self.clock = clock
        self.stop_event = threading.Event()
        self.statuses: queue.Queue[dict] = queue.Queue(maxsize=100_000)
        self._reconcile = threading.Event()
        self._summary: dict[str, Any] | None = None
        self._summary_written = float("-inf")
        self._amqp_consumer = None
        self.transports = transports or self._transports()
        with app.app_context():
            self.dispatcher = Dispatcher(self.transports, apply_policy(), self.config["DISPATCH_BATCH"],
                                         self.config["DISPATCH_BACKOFF_BASE"], self.config["DISPATCH_BACKOFF_MAX"],
                                         self.config["DISPATCH_LEASE"])

    def _transports(self) -> dict[str, Transport]:
        bridge = BridgeTransport(self.fleet)
        if dispatch_transport(self.config) == "amqp":
            from skypost_web.services.amqp import AmqpTransport

            amqp = AmqpTransport(self.config["AMQP_URL"], self.config["AMQP_PREFIX"], self.config["AMQP_TIMEOUT"])
            return {"submit": amqp, "cancel": bridge}
        return {"submit": bridge, "cancel": bridge}

    # wiring -----------------------------------------------------------------------------------------------------
    def attach(self) -> None:
        """Subscribe, advertise and watch reconnects (callbacks only hand work to the worker's thread)."""
        self.link.subscribe(names.DELIVERY_STATUS[0], names.DELIVERY_STATUS[1], self._on_status, queue_length=1000)
        self.link.subscribe(names.FLEET_SUMMARY[0], names.FLEET_SUMMARY[1], self._on_summary, queue_length=1)
        self.link.advertise_service(names.VALIDATE_PICKUP[0], names.VALIDATE_PICKUP[1], self.validate_pickup)
        self.link.on_connect(self._reconcile.set)
        if self.config["AMQP_URL"] and dispatch_transport(self.config) == "amqp":
            from skypost_web.services.amqp import EventConsumer

            self._amqp_consumer = EventConsumer(self.config["AMQP_URL"], self.config["AMQP_PREFIX"],
                                                self._apply_event, self.stop_event, self.config["AMQP_TIMEOUT"])
            self._amqp_consumer.start()
        if self.link.connected():
            self._reconcile.set()

    def _on_status(self, message: dict) -> None:
        try:
            self.statuses.put_nowait(message)
        except queue.Full:  # reconciliation after the next reconnect recovers what is dropped here
            log.error("status queue full; dropped %s", message.get("delivery_id"))

    def _on_summary(self, message: dict) -> None:
        self._summary = message

    # the ROS service the locker nodes call ----------------------------------------------------------------------
    def validate_pickup(self, request: dict) -> dict:
        with self.app.app_context():
            try:
                result = pickup_validator().validate(str(request.get("locker_id") or ""),
                                                     str(request.get("code") or ""))
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("validate_pickup failed for locker %s", request.get("locker_id"))
                return {"success": False, "message": "internal error", "delivery_id": "", "cell_id": 0}
            finally:
                db.session.remove()
        log.info("pickup at %s: %s", request.get("locker_id"), result.message)
        return {"success": result.success, "message": result.message, "delivery_id": result.delivery_id,
                "cell_id": result.cell_id}

    # the loop -----------------------------------------------------------------------------------------------------
    def _apply_event(self, message: dict) -> None:
        """Apply one status message in its own transaction (used by the AMQP consumer thread too)."""
        try:
            update = from_message(message)
        except StatusError as exc:
            log.warning("ignored a malformed status: %s", exc)
            return
        with self.app.app_context():
            try:
                deliveries.apply_update(update, apply_policy())
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    def drain_statuses(self, limit: int = 1000) -> int:
        done = 0
        while done < limit:
            try:
                message = self.statuses.get_nowait()
            except queue.Empty:
                break
            self._apply_event(message)
            done += 1
        return done

    def reconcile(self) -> int:
        """Ask the fleet for every delivery it has and we consider open; apply its status and history."""
        with self.app.app_context():
            ids = db.session.scalars(select(Delivery.id).where(
                Delivery.dispatched.is_(True), Delivery.state.notin_(tuple(TERMINAL)))).all()
            db.session.remove()
        changed = 0
        for delivery_id in ids:
            try:
                reply = self.fleet.get(delivery_id)
            except LinkError as exc:
                log.warning("reconcile stopped at %s: %s", delivery_id, exc)
                self._reconcile.set()  # try again at the next pass
                break
            if not reply.success:
                continue
            with self.app.app_context():
                try:
                    for update in [*reply.history, *([reply.status] if reply.status else [])]:
                        changed += deliveries.apply_update(update, apply_policy())
                    db.session.commit()
                finally:
                    db.session.remove()
        if ids:
            log.info("reconciled %d open deliveries with the fleet (%d changes)", len(ids), changed)
        return changed

    def store_summary(self, force: bool = False) -> bool:
        now = self.clock()
        if self._summary is None or (not force and now - self._summary_written < self.config["SUMMARY_CACHE_PERIOD"]):
            return False
        summary, self._summary = self._summary, None
        with self.app.app_context():
            try:
                row = db.session.get(FleetSnapshot, "summary") or FleetSnapshot(key="summary")
                row.value, row.updated_at = summary, utcnow()
                db.session.add(row)
                db.session.commit()
            finally:
                db.session.remove()
        self._summary_written = now
        return True

    def tick(self) -> None:
        self.drain_statuses()
        if self._reconcile.is_set() and self.link.connected():
            self._reconcile.clear()
            self.reconcile()
        with self.app.app_context():
            try:
                self.dispatcher.run_once()
            finally:
                db.session.remove()
        self.store_summary()

    def run(self) -> None:
        self.attach()
        log.info("worker running: dispatch via %s, bridge %s", dispatch_transport(self.config),
                 self.config["BRIDGE_URL"])
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:  # the loop survives a database or link hiccup; the next pass retries
                log.exception("worker pass failed")
            self.stop_event.wait(self.config["DISPATCH_INTERVAL"])
        for transport in self.transports.values():
            close = getattr(transport, "close", None)
            if close:
                close()
        self.link.close()

    def stop(self) -> None:
        self.stop_event.set()
