"""SkyPost fleet manager: intake, assignment and delivery lifecycle."""
