"""Numbered identity schema migrations."""
