"""Blueprints of the federation hub's fleet API (/v1)."""
