"""Numbered migrations of the federation hub's database."""
