"""Stock rows are always updated in good id order, so concurrent orders and cancels naming the same goods in
different orders never deadlock on PostgreSQL (bench/bench_rest.py found 500s from exactly that)."""
import pytest
from conftest import assert_envelope
from skypost_web.extensions import db
from sqlalchemy import event

pytestmark = pytest.mark.unit


class GoodsUpdates:
    """The good id of every UPDATE of the goods table, in the order the database received them."""

    def __init__(self, app) -> None:
        self.app = app
        self.ids: list[int] = []

    def _seen(self, _conn, _cursor, statement, _params, context, _many) -> None:
        if statement.lstrip().upper().startswith("UPDATE GOODS"):
            params = context.compiled_parameters[0]
            self.ids.append(next(v for k, v in params.items() if k.startswith("id_")))

    def __enter__(self) -> "GoodsUpdates":
        with self.app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def place(client, accounts, goods):
    items = [{"good_id": goods["book"], "quantity": 1}, {"good_id": goods["tea"], "quantity": 2}]
    assert goods["book"] > goods["tea"]  # sent in descending id order
    return assert_envelope(client.post("/api/v1/orders", json={"items": items}, headers=accounts.headers("alice")),
                           201)["data"]


def test_order_creation_locks_goods_in_id_order(app, client, accounts, goods):
    with GoodsUpdates(app) as updates:
        place(client, accounts, goods)
    assert updates.ids == [goods["tea"], goods["book"]]


def test_cancel_restores_stock_in_id_order(app, client, accounts, goods):
    order = place(client, accounts, goods)
    with GoodsUpdates(app) as updates:
        assert_envelope(client.post(f"/api/v1/orders/{order['id']}/cancel", headers=accounts.headers("alice")), 200)
    assert updates.ids == [goods["tea"], goods["book"]]
