"""The catalogue: goods with stock (everyone reads; admins add and change)."""
from __future__ import annotations

from apiflask import APIBlueprint
from marshmallow import RAISE
from sqlalchemy import select

from skypost_web.api import AUTH, get_or_404, ok
from skypost_web.errors import ApiError
from skypost_web.extensions import db
from skypost_web.models import Good
from skypost_web.schemas import GoodIn, GoodOut, GoodPatch, PageArgs
from skypost_web.security import roles_required

PATH = "/goods"
bp = APIBlueprint("goods", __name__, tag="Goods")


@bp.get("")
@bp.input(PageArgs, location="query", arg_name="page", unknown=RAISE)
@bp.output(GoodOut(many=True))
def list_goods(page: dict):
    """Goods, by id."""
    rows = db.session.scalars(select(Good).order_by(Good.id).limit(page["limit"]).offset(page["offset"])).all()
    return ok(rows)


@bp.get("/<int:good_id>")
@bp.output(GoodOut)
def get_good(good_id: int):
    """One good."""
    return ok(get_or_404(Good, good_id, "good_not_found", "good"))


@bp.post("")
@bp.input(GoodIn, arg_name="data")
@bp.output(GoodOut, status_code=201)
@bp.doc(security=AUTH, responses=[403, 409])
@roles_required("admin")
def create_good(data: dict):
    """Add a good (admin)."""
    if db.session.scalar(select(Good.id).where(Good.sku == data["sku"])) is not None:
        raise ApiError(409, "sku_taken", f"sku {data['sku']!r} exists")
    good = Good(**data)
    db.session.add(good)
    db.session.commit()
    return ok(good)


@bp.patch("/<int:good_id>")
@bp.input(GoodPatch, arg_name="data")
@bp.output(GoodOut)
@bp.doc(security=AUTH, responses=[403])
@roles_required("admin")
def update_good(good_id: int, data: dict):
    """Change a good's name, price or stock (admin)."""
    good = get_or_404(Good, good_id, "good_not_found", "good")
    for key, value in data.items():
        setattr(good, key, value)
    db.session.commit()
    return ok(good)
