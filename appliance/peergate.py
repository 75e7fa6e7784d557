"""A node agent's door (compute, network): only the site's control plane, named by a certificate the site CA issued,
gets in."""
from __future__ import annotations

import json

from appliance import pki

OPEN_PATHS = ("/healthz",)   # the supervisor's probe carries no certificate and learns only "up"


class PeerGate:
    """WSGI middleware in front of the whole app, so a refused peer is answered before any body byte is read
    (the app's own hooks start by reading and bounding the body)."""

    def __init__(self, app, allowed):
        self.app = app
        self.allowed = allowed   # () -> set of certificate names allowed to drive this node

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "") in OPEN_PATHS:
            return self.app(environ, start_response)
        # the TLS layer has already refused a certificate the site CA did not issue; a missing one is allowed
        # there (health probes), so it is refused here
        name = pki.peer_name(environ)
        if not name:
            return _refuse(start_response, "A node certificate issued by this site's CA is required.")
        # any member holds a site certificate, but only the control plane schedules work onto nodes: a member
        # (or a stolen member key) must not start, stop, read or destroy another node's guests and disks
        if name not in self.allowed():
            return _refuse(start_response, f"Node '{name}' is not this site's control plane; only the control "
                                           "plane drives a node's agents.")
        return self.app(environ, start_response)


def _refuse(start_response, message: str):
    body = json.dumps({"error": {"code": 403, "title": "Forbidden", "message": message}}).encode()
    # Connection: close: the unread body (if any) is never drained into the app
    start_response("403 FORBIDDEN", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                     ("Connection", "close")])
    return [body]
