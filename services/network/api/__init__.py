"""Blueprints of the Neutron v2.0 API."""
