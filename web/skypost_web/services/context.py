"""Service objects built from the current app's config (kept out of the views)."""
from __future__ import annotations

from flask import current_app

from skypost_web.extensions import ros
from skypost_web.ros.fleet import FleetClient
from skypost_web.services.deliveries import ApplyPolicy
from skypost_web.services.notify import notifier_from_config
from skypost_web.services.orders import OrderRules
from skypost_web.services.pickup import PickupValidator


def apply_policy() -> ApplyPolicy:
    config = current_app.config
    notifier = current_app.extensions.get("skypost_notifier")
    if notifier is None:
        notifier = current_app.extensions["skypost_notifier"] = notifier_from_config(config)
    return ApplyPolicy(notifier, config["PICKUP_CODE_TTL_HOURS"])


def order_rules() -> OrderRules:
    return OrderRules(current_app.config["MAX_PAYLOAD_KG"], current_app.config["PICKUP_SECRET"])


def pickup_validator() -> PickupValidator:
    config = current_app.config
    return PickupValidator(config["PICKUP_SECRET"], config["PICKUP_MAX_FAILURES"], config["PICKUP_FAILURE_WINDOW"],
                           apply_policy().notifier)


def fleet_client() -> FleetClient:
    return FleetClient(ros.get(), current_app.config["BRIDGE_TIMEOUT"])
