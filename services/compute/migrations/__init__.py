"""Numbered schema migrations of the compute service."""
