"""Persistence: users, goods, lockers and cells, orders, deliveries with history, pickup codes, notifications,
the dispatch outbox and the cached fleet summary."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from skypost_web.extensions import db

ROLES = ("customer", "admin", "operator", "locker")
CELL_SIZES = ("S", "M", "L")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="customer")
    locker_id: Mapped[str | None] = mapped_column(ForeignKey("lockers.id"))  # locker devices only
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),)


class Good(db.Model):
    __tablename__ = "goods"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    price_cents: Mapped[int] = mapped_column(default=0)
    weight_kg: Mapped[float] = mapped_column(default=0.0)
    size: Mapped[str] = mapped_column(String(1), default="S")
    stock: Mapped[int] = mapped_column(default=0)
    __table_args__ = (CheckConstraint("stock >= 0", name="ck_goods_stock"),)


class Locker(db.Model):
    __tablename__ = "lockers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    x: Mapped[float] = mapped_column(default=0.0)
    y: Mapped[float] = mapped_column(default=0.0)
    z: Mapped[float] = mapped_column(default=0.0)
    marker_id: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    cells: Mapped[list[LockerCell]] = relationship(back_populates="locker", order_by="LockerCell.number",
                                                   cascade="all, delete-orphan")


class LockerCell(db.Model):
    __tablename__ = "locker_cells"
    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"))
    number: Mapped[int] = mapped_column()  # cell id 1..N as the locker node numbers them
    size: Mapped[str] = mapped_column(String(1))
    locker: Mapped[Locker] = relationship(back_populates="cells")
    __table_args__ = (UniqueConstraint("locker_id", "number", name="uq_locker_cells_number"),)


class Order(db.Model):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"))
    status: Mapped[str] = mapped_column(String(24), default="PENDING")
    cell_size: Mapped[str] = mapped_column(String(1), default="S")
    priority: Mapped[int] = mapped_column(default=0)
    weight_kg: Mapped[float] = mapped_column(default=0.0)
    total_cents: Mapped[int] = mapped_column(default=0)
    stock_restored: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    items: Mapped[list[OrderItem]] = relationship(back_populates="order", cascade="all, delete-orphan")
    delivery: Mapped[Delivery | None] = relationship(back_populates="order", uselist=False)


class OrderItem(db.Model):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    good_id: Mapped[int] = mapped_column(ForeignKey("goods.id"))
    quantity: Mapped[int] = mapped_column()
    unit_price_cents: Mapped[int] = mapped_column()
    order: Mapped[Order] = relationship(back_populates="items")
    good: Mapped[Good] = relationship()


class Delivery(db.Model):
    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the fleet's delivery_id
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    locker_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24), default="PENDING")
    state_stamp: Mapped[float] = mapped_column(default=0.0)  # fleet time of the applied transition
    reason: Mapped[str] = mapped_column(String(500), default="")
    drone_id: Mapped[str] = mapped_column(String(64), default="")
    cell_id: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    drop_confirmed: Mapped[bool] = mapped_column(default=False)
    eta: Mapped[float | None] = mapped_column()
    dispatched: Mapped[bool] = mapped_column(default=False)  # the fleet acknowledged it
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    order: Mapped[Order] = relationship(back_populates="delivery")
    history: Mapped[list[DeliveryEvent]] = relationship(
        back_populates="delivery", order_by="DeliveryEvent.id", cascade="all, delete-orphan")
    __table_args__ = (Index("ix_deliveries_state", "state"),)


class DeliveryEvent(db.Model):
    """One transition of a delivery; (delivery, state, attempts, stamp) is unique so replays change nothing."""

    __tablename__ = "delivery_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    state: Mapped[str] = mapped_column(String(24))
    stamp: Mapped[float] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500), default="")
    drone_id: Mapped[str] = mapped_column(String(64), default="")
    cell_id: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(String(16), default="fleet")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivery: Mapped[Delivery] = relationship(back_populates="history")
    __table_args__ = (UniqueConstraint("delivery_id", "state", "attempts", "stamp", name="uq_delivery_events"),)


class PickupCode(db.Model):
    """The secret part of a code is never stored: only its hash, and the nonce it is derived from."""

    __tablename__ = "pickup_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime | None] = mapped_column()  # set when the parcel is in the cell
    used_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PickupAttempt(db.Model):
    __tablename__ = "pickup_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column()
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_pickup_attempts_locker_at", "locker_id", "at"),)


class Notification(db.Model):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(24))  # delivered | failed | picked_up
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="sent")
    error: Mapped[str] = mapped_column(String(500), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("order_id", "kind", name="uq_notifications_order_kind"),)


class OutboxMessage(db.Model):
    """A message to the fleet, written in the same transaction as the change that needs it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # submit | cancel
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | refused | dropped
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)


class FleetSnapshot(db.Model):
    """The latest /fleet/summary, written by the worker, read by every web process."""

    __tablename__ = "fleet_snapshots"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
