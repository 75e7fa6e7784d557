"""Schema migrations of the cluster unit's database."""
