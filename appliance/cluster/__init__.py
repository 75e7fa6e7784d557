"""Site membership: the site CA, single-use join tokens, node certificates and heartbeats (the `cluster` unit)."""
