"""Numbered schema migrations of the storage service."""
