"""Business rules in plain modules; views parse, call these, and serialise."""
