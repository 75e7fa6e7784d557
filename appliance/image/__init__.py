"""Appliance image tooling: systemd units from the manifest, flashing, A/B updates."""
