"""Helpers shared by federation views: the manager and the request's verified client certificate."""
from __future__ import annotations

from flask import current_app, request

from appliance import pki


def mgr():
    return current_app.extensions["federation.manager"]


def peer_certificate() -> dict | None:
    """The client certificate gunicorn verified against the hub CA (--cert-reqs 1), or None."""
    return pki.peer_certificate(request.environ)
