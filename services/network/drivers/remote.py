"""RemoteNetworkDriver: the data-plane contract, carried out by another node's network agent over the site's mTLS."""
from __future__ import annotations

import http.client
import json
from pathlib import Path

from appliance import agentwire
from appliance.cluster import nodeagent  # how this box reaches a member's agent
from services.network.drivers import base, names

CONNECT_TIMEOUT = 3.0     # a node that does not accept a connection in this long is taken as offline
CALL_TIMEOUT = 120.0      # a full verify pass (nft, dnsmasq, every link) on a busy node, with room to spare
ERRORS = {cls.__name__: cls for cls in (base.DriverError, ValueError, RuntimeError)}


class RemoteNetworkDriver(base.Driver):
    """Every method of base.Driver is one `POST /v1/driver/<method>` to the node's agent (its arguments by name,
    the Topology as base.topology_to_dict); the node's own driver (Linux, or the fake) does the work."""

    def __init__(self, node: str, address: str, ca_pem: str, cert: tuple[Path, Path] | None, *,
                 connect_timeout: float = CONNECT_TIMEOUT, call_timeout: float = CALL_TIMEOUT):
        self.node = node
        self._line = agentwire.Line(f"Network node '{node}'", base.DriverError, address, ca_pem, cert, connect_timeout)
        self.host, self.port = self._line.host, self._line.port
        self.connect_timeout, self.call_timeout = connect_timeout, call_timeout
        self._described: dict | None = None

    @classmethod
    def for_node(cls, settings, node: str, host: str) -> RemoteNetworkDriver:
        """The driver for a site member's agent, as this box's node certificate (the control plane's) reaches it."""
        return cls(node, *nodeagent.reach(settings, host, "network_agent"))

    def __repr__(self) -> str:
        return f"RemoteNetworkDriver({self.node!r} at {self.host}:{self.port})"

    # -- the contract ----------------------------------------------------------------------------------------------
    def _describe(self) -> dict:
        if self._described is None:
            document = self._request("GET", "/v1/driver", None, "describe")
            if not isinstance(document.get("prefix"), str):
                raise base.DriverError(f"Network node '{self.node}' did not say its prefix.")
            try:
                document["node_tag"] = names.check_tag(str(document.get("node_tag") or ""))
            except ValueError as exc:
                raise base.DriverError(f"Network node '{self.node}': {exc}.") from None
            self._described = document
        return self._described

    @property
    def prefix(self) -> str:
        """The node's own prefix (its namespaces are named with it): asked once, then kept."""
        return self._describe()["prefix"]

    @property
    def node_tag(self) -> str:
        """The node's link-name tag (its bridges are named with it): asked once, then kept."""
        return self._describe()["node_tag"]

    @property
    def vxlan_port(self) -> int | None:
        """The node's VXLAN port (its peers flood to it), or None from an agent that does not say: asked once."""
        return self._describe().get("vxlan_port")

    def apply(self, topology: base.Topology, verify: bool = True) -> None:
        self._call("apply", topology=base.topology_to_dict(topology), verify=verify)

    def port_states(self, taps: list[str]) -> dict[str, bool]:
        return self._call("port_states", taps=list(taps))

    def inventory(self) -> dict[str, list]:
        return self._call("inventory")

    def vxlan_peers(self) -> dict[str, list[str]]:
        return self._call("vxlan_peers")

    def tx_queues(self, physical_network: str) -> int | None:
        return self._call("tx_queues", physical_network=physical_network)

    def teardown(self) -> None:
        self._call("teardown")

    # -- the wire --------------------------------------------------------------------------------------------------
    def _call(self, method: str, **arguments):
        document = self._request("POST", f"/v1/driver/{method}", json.dumps(arguments).encode(), method)
        return document.get("result")

    def _request(self, verb: str, path: str, body: bytes | None, what: str) -> dict:
        conn = self._line.connect(self.call_timeout)
        try:
            conn.request(verb, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._line.unreachable(exc) from None
        finally:
            conn.close()
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise base.DriverError(f"Network node '{self.node}' answered {what} with something not JSON "
                                   f"(HTTP {resp.status}).")
        if resp.status == 200:
            return document
        failed = document.get("driver_error")
        if resp.status == 422 and isinstance(failed, dict):
            # the same class with the same message as on the node, so callers (and the contract suite) see the
            # node's own refusal: a bad VXLAN peer is a RuntimeError naming it, wherever the driver runs
            raise ERRORS.get(failed.get("type"), RuntimeError)(str(failed.get("message", "")))
        message = (document.get("error") or {}).get("message") if isinstance(document.get("error"), dict) else None
        raise base.DriverError(f"Network node '{self.node}' refused {what}: {message or 'no reason given'} "
                               f"(HTTP {resp.status}).")
