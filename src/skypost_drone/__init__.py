"""SkyPost drone: mission state machine and Clover/MAVROS glue."""
