"""ROS names and types the web app uses (docs/interfaces.md)."""

SUBMIT_DELIVERY = ("/fleet/submit_delivery", "skypost/SubmitDelivery")
CANCEL_DELIVERY = ("/fleet/cancel_delivery", "skypost/CancelDelivery")
RETRY_DELIVERY = ("/fleet/retry_delivery", "skypost/RetryDelivery")
GET_DELIVERY = ("/fleet/get_delivery", "skypost/GetDelivery")
LIST_DELIVERIES = ("/fleet/list_deliveries", "skypost/ListDeliveries")
DELIVERY_STATUS = ("/fleet/delivery_status", "skypost/DeliveryStatus")
FLEET_SUMMARY = ("/fleet/summary", "skypost/FleetSummary")
VALIDATE_PICKUP = ("/skypost/validate_pickup", "skypost/ValidatePickup")
