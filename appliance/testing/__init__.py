"""Test support shared by every service: fixtures, token minting, a running cloud, PostgreSQL."""
