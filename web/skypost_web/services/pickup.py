"""QR pickup codes: random, stored hashed, single-use, expiring; validation with per-locker attempt limits.

A code is "<public_id>.<secret>". The secret is HMAC(PICKUP_SECRET, nonce): the database holds the nonce and the
code's SHA-256 only, so a database dump alone reveals no usable code, while the owner can still be shown the QR
again without the code being stored.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update

from skypost_web.extensions import db
from skypost_web.models import Delivery, Order, PickupAttempt, PickupCode, utcnow
from skypost_web.services.notify import Notifier, notify

READY_STATE = "AWAITING_PICKUP"


@dataclass(frozen=True)
class PickupResult:
    success: bool
    message: str
    delivery_id: str = ""
    cell_id: int = 0
    order_ref: str = ""


def _secret_part(secret: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:20]


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue_code(order: Order, secret: str) -> PickupCode:
    """A new code for `order` (its clock starts when the parcel is in the cell: see arm())."""
    nonce = secrets.token_hex(16)
    public_id = secrets.token_hex(5)
    code = PickupCode(order_id=order.id, public_id=public_id, nonce=nonce)
    code.code_hash = _hash(f"{public_id}.{_secret_part(secret, nonce)}")
    db.session.add(code)
    return code


def code_text(code: PickupCode, secret: str) -> str:
    return f"{code.public_id}.{_secret_part(secret, code.nonce)}"


def arm(order: Order, ttl_hours: float, now: dt.datetime | None = None) -> None:
    """The parcel is in the cell: the code is valid for `ttl_hours` from now (once)."""
    code = db.session.scalar(select(PickupCode).where(PickupCode.order_id == order.id))
    if code is not None and code.expires_at is None:
        code.expires_at = (now or utcnow()) + dt.timedelta(hours=ttl_hours)


def recent_failures(locker_id: str, window_s: float, now: dt.datetime) -> int:
    since = now - dt.timedelta(seconds=window_s)
    return db.session.scalar(select(func.count(PickupAttempt.id)).where(
        PickupAttempt.locker_id == locker_id, PickupAttempt.success.is_(False), PickupAttempt.at >= since)) or 0


class PickupValidator:
    """Checks and consumes codes for one locker at a time; the caller commits."""

    def __init__(self, secret: str, max_failures: int, window_s: float, notifier: Notifier) -> None:
        self.secret = secret
        self.max_failures = max_failures
        self.window_s = window_s
        self.notifier = notifier

    def validate(self, locker_id: str, code: str, now: dt.datetime | None = None) -> PickupResult:
        now = now or utcnow()
        locker_id, code = (locker_id or "").strip(), (code or "").strip()
        if not locker_id or not code:
            return PickupResult(False, "locker_id and code are required")
        if recent_failures(locker_id, self.window_s, now) >= self.max_failures:
            return PickupResult(False, "too many wrong codes, try again later")
        result = self._check(locker_id, code, now)
        db.session.add(PickupAttempt(locker_id=locker_id[:64], success=result.success, reason=result.message, at=now))
        return result

    def _check(self, locker_id: str, code: str, now: dt.datetime) -> PickupResult:
        public_id, _, _ = code.partition(".")
        stored = db.session.scalar(select(PickupCode).where(PickupCode.public_id == public_id[:16]))
        if stored is None or not hmac.compare_digest(stored.code_hash, _hash(code)):
            return PickupResult(False, "unknown code")
        order = db.session.get(Order, stored.order_id)
        delivery = db.session.scalar(select(Delivery).where(Delivery.order_id == stored.order_id))
        if order is None or delivery is None:
            return PickupResult(False, "unknown code")
        if order.locker_id != locker_id:
            return PickupResult(False, "this parcel is at another locker")
        if stored.used_at is not None:
            return PickupResult(False, "code already used")
        if delivery.state != READY_STATE:
            waiting = delivery.state not in ("COMPLETED", "FAILED", "CANCELLED")
            reason = "parcel not in the locker yet" if waiting else f"delivery {delivery.state.lower()}"
            return PickupResult(False, reason)
        if stored.expires_at is not None and stored.expires_at <= now:
            return PickupResult(False, "code expired")
        consumed = db.session.execute(
            update(PickupCode).where(PickupCode.id == stored.id, PickupCode.used_at.is_(None)).values(used_at=now))
        if consumed.rowcount != 1:  # another request consumed it in between
            return PickupResult(False, "code already used")
        notify(self.notifier, order, "picked_up", f"cell {delivery.cell_id}")
        return PickupResult(True, "ok", delivery.id, delivery.cell_id, order.ref)
