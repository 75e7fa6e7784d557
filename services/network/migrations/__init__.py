"""Numbered schema migrations of the network service."""
