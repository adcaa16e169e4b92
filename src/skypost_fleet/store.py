"""Durable fleet state in SQLite (stdlib sqlite3): deliveries, their transition history, site settings.

A delivery is acknowledged to its sender only after `save` has committed (WAL, synchronous=FULL), so an
accepted delivery survives a crash of the fleet node. One connection, guarded by a lock, used from any thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from skypost_fleet.model import TERMINAL, Delivery, State

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    state INTEGER NOT NULL,
    goal_active INTEGER NOT NULL,
    created REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    stamp REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_delivery ON history (delivery_id, id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    action TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save(
        self, delivery: Delivery, history: Sequence[Delivery] = (), outbox: Sequence[str] = ()
    ) -> list[int]:
        """Write the record, append its new history entries and queue `outbox` entries (calls that must happen
        even if the process dies right after this commit), in one transaction. Returns the outbox row ids."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO deliveries (delivery_id, state, goal_active, created, record) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(delivery_id) DO UPDATE SET state = excluded.state, "
                    "goal_active = excluded.goal_active, record = excluded.record",
                    (
                        delivery.delivery_id,
                        int(delivery.state),
                        int(delivery.goal_active),
                        delivery.created,
                        _dump(delivery),
                    ),
                )
                self._db.executemany(
                    "INSERT INTO history (delivery_id, stamp, record) VALUES (?, ?, ?)",
                    [(h.delivery_id, h.updated, _dump(h)) for h in history],
                )
                ids = []
                for entry in outbox:
                    cursor = self._db.execute(
                        "INSERT INTO outbox (delivery_id, action) VALUES (?, ?)",
                        (delivery.delivery_id, entry),
                    )
                    ids.append(int(cursor.lastrowid))
                self._db.execute("COMMIT")
                return ids
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def outbox(self) -> list[tuple[int, str]]:
        """Queued calls not yet carried out, oldest first: (row id, action)."""
        with self._lock:
            return [(int(i), a) for i, a in self._db.execute("SELECT id, action FROM outbox ORDER BY id")]

    def outbox_done(self, row_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def get(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM deliveries WHERE delivery_id = ?", (delivery_id,)
            ).fetchone()
        return _load(row[0]) if row else None

    def history(self, delivery_id: str) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM history WHERE delivery_id = ? ORDER BY id", (delivery_id,)
            ).fetchall()
        return [_load(r[0]) for r in rows]

    def load_open(self) -> list[Delivery]:
        """Every delivery the fleet still acts on: not terminal, or terminal with a drone goal running."""
        terminal = tuple(int(s) for s in TERMINAL)
        marks = ",".join("?" * len(terminal))
        with self._lock:
            rows = self._db.execute(
                f"SELECT record FROM deliveries WHERE state NOT IN ({marks}) OR goal_active = 1 "
                "ORDER BY created",
                terminal,
            ).fetchall()
        return [_load(r[0]) for r in rows]

    def list(self, states: Iterable[State] = (), limit: int = 0) -> list[Delivery]:
        """Newest first."""
        wanted = [int(s) for s in states]
        sql = "SELECT record FROM deliveries"
        if wanted:
            sql += f" WHERE state IN ({','.join('?' * len(wanted))})"
        sql += " ORDER BY created DESC"
        if limit > 0:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, wanted).fetchall()
        return [_load(r[0]) for r in rows]

    def count_by_state(self) -> dict[State, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        return {State(s): n for s, n in rows}

    def setting(self, key: str, default: str = "") -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _dump(delivery: Delivery) -> str:
    return json.dumps(delivery.to_json(), sort_keys=True)


def _load(text: str) -> Delivery:
    return Delivery.from_json(json.loads(text))
