"""Request and response schemas (marshmallow); they are also the OpenAPI document."""
from __future__ import annotations

import datetime as dt

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

MAX_ID = 2**31 - 1


class UtcDateTime(DateTime):
    """The database keeps naive UTC; the API answers RFC 3339 with the offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)
PRINTABLE = Regexp(r"^[^\x00-\x1f\x7f]*$", error="control characters are not allowed")


def text(min_len: int = 1, max_len: int = 120, **kwargs) -> String:
    return String(validate=[Length(min_len, max_len), PRINTABLE], **kwargs)


# Envelope -------------------------------------------------------------------------------------------------------
class ErrorBody(Schema):
    code = String(required=True)
    message = String(required=True)
    fields = Raw(allow_none=True)


class Envelope(Schema):
    """Every answer: {"success", "data", "error"}."""

    success = Boolean(required=True)
    data = Raw(allow_none=True)
    error = Nested(ErrorBody, allow_none=True)


class ErrorEnvelope(Schema):
    success = Boolean(required=True)
    data = Raw(allow_none=True)
    error = Nested(ErrorBody, required=True)


# Auth -----------------------------------------------------------------------------------------------------------
class RegisterIn(Schema):
    username = String(required=True, validate=[Length(3, 64), Regexp(r"^[A-Za-z0-9_.-]+$")])
    password = String(required=True, validate=[Length(8, 128), PRINTABLE])
    email = String(validate=[Length(3, 254), Regexp(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+$")], allow_none=True)


class LoginIn(Schema):
    username = String(required=True, validate=[Length(1, 64), PRINTABLE])
    password = String(required=True, validate=[Length(1, 128), PRINTABLE])


class UserOut(Schema):
    id = Integer()
    username = String()
    email = String(allow_none=True)
    role = String()
    locker_id = String(allow_none=True)
    active = Boolean()
    created_at = UtcDateTime()


class TokensOut(Schema):
    access_token = String()
    refresh_token = String()
    token_type = String()
    expires_in = Integer()
    user = Nested(UserOut)


class AccessOut(Schema):
    access_token = String()
    token_type = String()
    expires_in = Integer()


# Catalogue ------------------------------------------------------------------------------------------------------
class GoodOut(Schema):
    id = Integer()
    sku = String()
    name = String()
    price_cents = Integer()
    weight_kg = Float()
    size = String()
    stock = Integer()


class GoodIn(Schema):
    sku = String(required=True, validate=[Length(1, 32), Regexp(r"^[A-Za-z0-9_.-]+$")])
    name = text(required=True)
    price_cents = Integer(required=True, validate=Range(0, 10**9))
    weight_kg = Float(required=True, validate=Range(0, 100))
    size = String(required=True, validate=OneOf(["S", "M", "L"]))
    stock = Integer(required=True, validate=Range(0, 10**6))


class GoodPatch(Schema):
    name = text()
    price_cents = Integer(validate=Range(0, 10**9))
    stock = Integer(validate=Range(0, 10**6))


class CellOut(Schema):
    number = Integer()
    size = String()


class LockerOut(Schema):
    id = String()
    name = String()
    position = List(Float())
    marker_id = Integer()
    active = Boolean()
    cells = List(Nested(CellOut))
    cells_by_size = Dict(keys=String(), values=Integer())


# Orders ---------------------------------------------------------------------------------------------------------
class OrderItemIn(Schema):
    good_id = Integer(required=True, validate=Range(1, MAX_ID))
    quantity = Integer(required=True, validate=Range(1, 100))


class OrderIn(Schema):
    items = List(Nested(OrderItemIn), required=True, validate=Length(1, 20))
    locker_id = String(validate=[Length(1, 64), PRINTABLE], allow_none=True)
    priority = String(validate=OneOf(["normal", "high"]), load_default="normal")

    @validates_schema
    def _unique_goods(self, data: dict, **kwargs) -> None:
        ids = [item["good_id"] for item in data.get("items", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("each good may appear once", field_name="items")


class OrderItemOut(Schema):
    good_id = Integer()
    name = String()
    quantity = Integer()
    unit_price_cents = Integer()


class HistoryOut(Schema):
    state = String()
    reason = String()
    drone_id = String()
    cell_id = Integer()
    attempts = Integer()
    stamp = Float()
    source = String()


class DeliveryOut(Schema):
    id = String()
    order_id = Integer()
    order_ref = String()
    state = String()
    reason = String()
    drone_id = String()
    locker_id = String()
    cell_id = Integer()
    attempts = Integer()
    drop_confirmed = Boolean()
    eta_s = Float(allow_none=True)
    dispatched = Boolean()
    updated_at = UtcDateTime()
    history = List(Nested(HistoryOut))


class OrderOut(Schema):
    id = Integer()
    ref = String()
    status = String()
    locker_id = String()
    cell_size = String()
    priority = String()
    weight_kg = Float()
    total_cents = Integer()
    created_at = UtcDateTime()
    items = List(Nested(OrderItemOut))
    delivery = Nested(DeliveryOut, allow_none=True)
    pickup_ready = Boolean()


class PageArgs(Schema):
    limit = Integer(load_default=50, validate=Range(1, 200))
    offset = Integer(load_default=0, validate=Range(0, 10**6))


class OrderPageArgs(PageArgs):
    status = String(validate=[Length(1, 24), PRINTABLE])


class QrTextOut(Schema):
    code = String()
    order_ref = String()
    locker_id = String()
    expires_at = UtcDateTime(allow_none=True)
    usable = Boolean()


# Admin ----------------------------------------------------------------------------------------------------------
class ReasonIn(Schema):
    reason = String(validate=[Length(0, 200), PRINTABLE], load_default="")


class DroneOut(Schema):
    drone_id = String()
    mission_state = String()
    delivery_id = String()
    battery = Float(allow_none=True)
    in_service = Boolean()
    position = List(Float())
    message = String()


class DronesOut(Schema):
    updated_at = UtcDateTime(allow_none=True)
    age_s = Float(allow_none=True)
    paused = Boolean()
    drones = List(Nested(DroneOut))
    counts = Dict(keys=String(), values=Integer())


class UserPatch(Schema):
    role = String(validate=OneOf(["customer", "admin", "operator", "locker"]))
    active = Boolean()
    locker_id = String(validate=[Length(1, 64), PRINTABLE], allow_none=True)


class FleetReplyOut(Schema):
    success = Boolean()
    message = String()
    delivery = Nested(DeliveryOut)


# Pickup and bridge ----------------------------------------------------------------------------------------------
class PickupIn(Schema):
    code = String(required=True, validate=[Length(1, 64), PRINTABLE])
    locker_id = String(validate=[Length(1, 64), PRINTABLE])


class PickupOut(Schema):
    delivery_id = String()
    order_ref = String()
    cell_id = Integer()


class BridgeTokenOut(Schema):
    token = String()
    expires_at = UtcDateTime()
    url = String()
    role = String()
