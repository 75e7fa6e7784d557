"""Whether a node may leave the site: the cluster unit asks the site's compute API (over HTTP, as the caller) what
still runs there, and refuses to remove a node that hosts servers or that it cannot ask about."""
from __future__ import annotations

from urllib.parse import quote

import requests

from appliance import errors
from appliance.clients import ClientError, ServiceClient
from appliance.cluster import models

HOST = "OS-EXT-SRV-ATTR:host"   # what an admin's view of a server names its node by
TIMEOUT = 10.0


def compute_in_site(settings) -> bool:
    """The site's control plane runs the compute API (the box runs every unit, or names compute, or points to one)."""
    enabled = settings.enabled_services
    return bool(settings.section("endpoints").get("compute")) or not enabled or "compute" in enabled


def servers_on(settings, node: str, token: str) -> int:
    """How many servers the compute API says `node` hosts (every project's), asked with the caller's own token."""
    client = ServiceClient(settings, "cluster", timeout=TIMEOUT)
    path = f"/v2.1/servers/detail?all_tenants=1&host={quote(node, safe='')}"
    try:
        resp = client.request("compute", "GET", path, token=token, expected=(200,))
        servers = resp.json()["servers"]
    except ClientError as exc:
        if exc.status in (401, 403):
            raise errors.Forbidden(f"compute refused to list the servers on node {node} ({exc.status}); "
                                   "removing a node needs a token that may see every project's servers.") from None
        raise _unreachable(node, f"it answered {exc.status}") from None
    except requests.RequestException as exc:
        raise _unreachable(node, f"{type(exc).__name__}: {exc}") from None
    except (ValueError, KeyError, TypeError):
        raise _unreachable(node, "its answer is not a server list") from None
    if not isinstance(servers, list) or any(not isinstance(s, dict) or HOST not in s for s in servers):
        # a listing without hosts (a token compute does not take for an admin) says nothing about this node
        raise errors.Forbidden(f"compute does not show this token which node its servers run on; node {node} "
                               "cannot be checked for servers.")
    return sum(1 for s in servers if s[HOST] == node)


def _unreachable(node: str, why: str) -> errors.ServiceUnavailable:
    return errors.ServiceUnavailable(f"compute could not be asked whether node {node} still hosts servers ({why}); "
                                     "it is not removed until compute answers.")


def check_removable(settings, name: str, token: str) -> None:
    """Before a member is removed: 409 while it hosts servers, 503 when compute cannot say. An unknown name or the
    founder is left to membership.remove's own answer."""
    node = models.Node.get_or_none(models.Node.name == name)
    if node is None or node.founder or not compute_in_site(settings):
        return
    count = servers_on(settings, name, token)
    if count:
        raise errors.Conflict(f"node {name} still hosts {count} server{'s' if count != 1 else ''}; "
                              f"drain it first (egret cluster drain {name})")
