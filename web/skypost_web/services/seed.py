"""Demo data: goods, lockers from the world file, demo accounts (admin, operator, customer, one locker device)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from skypost_web.extensions import db
from skypost_web.models import Good, Locker, LockerCell, User
from skypost_web.security import hash_password
from skypost_web.services.world import load_lockers

DEMO_GOODS = (
    ("SKU-TEA", "Green tea, 100 g", 450, 0.12, "S", 50),
    ("SKU-PHONE-CASE", "Phone case", 1299, 0.08, "S", 40),
    ("SKU-BOOK", "Paperback book", 1599, 0.35, "M", 25),
    ("SKU-HEADPHONES", "Wireless headphones", 5999, 0.3, "M", 15),
    ("SKU-SHOES", "Running shoes", 8999, 0.9, "L", 10),
)
DEMO_ACCOUNTS = (("admin", "admin", None), ("operator", "operator", None), ("customer", "customer", None))


@dataclass(frozen=True)
class SeedReport:
    goods: int
    lockers: int
    passwords: dict[str, str]  # accounts created now -> their password (shown once)


def seed_lockers(world_file: str) -> int:
    count = 0
    for spec in load_lockers(world_file):
        locker = db.session.get(Locker, spec.id) or Locker(id=spec.id)
        locker.name, locker.marker_id = spec.name, spec.marker_id
        locker.x, locker.y, locker.z = spec.position
        existing = {cell.number: cell for cell in locker.cells}
        for number, size in enumerate(spec.cells, start=1):
            if number in existing:
                existing[number].size = size
            else:
                locker.cells.append(LockerCell(number=number, size=size))
        for number, cell in existing.items():
            if number > len(spec.cells):
                locker.cells.remove(cell)
        db.session.add(locker)
        count += 1
    return count


def seed(world_file: str, password: str | None = None) -> SeedReport:
    """Idempotent: existing goods and accounts are kept (their passwords are not changed)."""
    goods = 0
    for sku, name, price, weight, size, stock in DEMO_GOODS:
        if db.session.scalar(select(Good.id).where(Good.sku == sku)) is None:
            db.session.add(Good(sku=sku, name=name, price_cents=price, weight_kg=weight, size=size, stock=stock))
            goods += 1
    lockers = seed_lockers(world_file)
    db.session.flush()
    accounts = list(DEMO_ACCOUNTS)
    first_locker = db.session.scalar(select(Locker.id).order_by(Locker.id))
    if first_locker:
        accounts.append((f"{first_locker}-device", "locker", first_locker))
    passwords = {}
    for username, role, locker_id in accounts:
        if db.session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        secret = password or secrets.token_urlsafe(9)
        db.session.add(User(username=username, role=role, locker_id=locker_id, password_hash=hash_password(secret)))
        passwords[username] = secret
    db.session.commit()
    return SeedReport(goods, lockers, passwords)
