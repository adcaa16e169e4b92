"""The outbox dispatcher: sends pending outbox rows to the fleet, marks them sent only on acknowledgement,
retries with backoff. PostgreSQL: rows are claimed with FOR UPDATE SKIP LOCKED (held while sending), so several
dispatchers never send one row twice. SQLite: a row is claimed by a conditional UPDATE of its lease."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import or_, select, update

from skypost_web.extensions import db
from skypost_web.models import Delivery, OutboxMessage, utcnow
from skypost_web.ros.fleet import FleetClient, FleetReply
from skypost_web.ros.link import LinkError
from skypost_web.services import deliveries

log = logging.getLogger(__name__)


class TransportError(Exception):
    """The message did not reach the fleet (or no acknowledgement came): retry later."""


@dataclass(frozen=True)
class Ack:
    """The fleet's answer: accepted (incl. duplicate) or refused for good."""

    accepted: bool
    message: str = ""
    reply: FleetReply | None = None


class Transport(Protocol):
    name: str

    def ready(self) -> bool: ...

    def send(self, message: OutboxMessage) -> Ack: ...


class BridgeTransport:
    """Submit and cancel through the fleet's ROS services over the bridge."""

    name = "bridge"

    def __init__(self, fleet: FleetClient) -> None:
        self.fleet = fleet

    def ready(self) -> bool:
        return self.fleet.link.connected()

    def send(self, message: OutboxMessage) -> Ack:
        try:
            if message.kind == "submit":
                reply = self.fleet.submit(message.payload)
                return Ack(reply.success or reply.duplicate, reply.message, reply)
            reply = self.fleet.cancel(message.payload["delivery_id"], message.payload.get("reason", ""))
            return Ack(reply.success, reply.message, reply)
        except LinkError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc


@dataclass
class DispatchStats:
    sent: int = 0
    refused: int = 0
    retried: int = 0


class Dispatcher:
    def __init__(self, transports: dict[str, Transport], policy: deliveries.ApplyPolicy, batch: int = 20,
                 backoff_base: float = 2.0, backoff_max: float = 300.0, lease_s: float = 60.0) -> None:
        self.transports = transports  # by outbox kind: "submit", "cancel"
        self.policy = policy
        self.batch = batch
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.lease_s = lease_s

    def _kinds_ready(self) -> list[str]:
        return [kind for kind, transport in self.transports.items() if transport.ready()]

    def run_once(self, now: dt.datetime | None = None) -> DispatchStats:
        """One pass over due rows whose transport is up."""
        kinds = self._kinds_ready()
        stats = DispatchStats()
        if not kinds:
            return stats
        if db.engine.dialect.name == "postgresql":
            self._run_locked(kinds, now, stats)
        else:
            self._run_leased(kinds, now, stats)
        return stats

    def _due(self, kinds: list[str], now: dt.datetime):
        return (select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.kind.in_(kinds),
                                            OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id).limit(self.batch))

    def _run_locked(self, kinds: list[str], now: dt.datetime | None, stats: DispatchStats) -> None:
        now = now or utcnow()
        try:
            rows = db.session.scalars(self._due(kinds, now).with_for_update(skip_locked=True)).all()
            for row in rows:
                self._deliver(row, now, stats)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    def _run_leased(self, kinds: list[str], now: dt.datetime | None, stats: DispatchStats) -> None:
        now = now or utcnow()
        ids = db.session.scalars(self._due(kinds, now).with_only_columns(OutboxMessage.id).where(
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))).all()
        db.session.commit()
        for row_id in ids:
            claimed = db.session.execute(
                update(OutboxMessage).where(
                    OutboxMessage.id == row_id, OutboxMessage.status == "pending",
                    or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
                .values(lease_until=now + dt.timedelta(seconds=self.lease_s)))
            db.session.commit()
            if claimed.rowcount != 1:
                continue
            row = db.session.get(OutboxMessage, row_id)
            try:
                self._deliver(row, now, stats)
                row.lease_until = None
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise

    def _deliver(self, row: OutboxMessage, now: dt.datetime, stats: DispatchStats) -> None:
        transport = self.transports[row.kind]
        row.attempts += 1
        try:
            ack = transport.send(row)
        except TransportError as exc:
            delay = min(self.backoff_base * 2 ** (row.attempts - 1), self.backoff_max)
            row.next_attempt_at = now + dt.timedelta(seconds=delay)
            row.last_error = str(exc)[:500]
            stats.retried += 1
            log.info("outbox %s (%s %s) not sent, retry in %.0fs: %s", row.id, row.kind, row.delivery_id, delay, exc)
            return
        delivery = db.session.get(Delivery, row.delivery_id)
        if ack.accepted:
            row.status, row.sent_at, row.last_error = "sent", now, ""
            stats.sent += 1
            if row.kind == "submit" and delivery is not None:
                delivery.dispatched = True
            if ack.reply is not None and ack.reply.status is not None:
                deliveries.apply_update(ack.reply.status, self.policy)
            return
        row.status, row.last_error = "refused", ack.message[:500]
        stats.refused += 1
        log.warning("outbox %s (%s %s) refused by the fleet: %s", row.id, row.kind, row.delivery_id, ack.message)
        if row.kind == "submit" and delivery is not None and delivery.state == "PENDING":
            deliveries.local_transition(delivery, "FAILED", f"refused: {ack.message}"[:500], self.policy)
