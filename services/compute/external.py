"""The services compute calls (network, image, volume) behind small interfaces; HTTP here, fakes in fakes.py."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import requests

from appliance.clients import ClientError, ServiceClient


# what a user may not see of another service's answer: its URLs, API paths and policy rule names
_INTERNAL = [re.compile(r"https?://\S+"), re.compile(r"\(?rule:[\w:.*-]+\)?\s*"),
             re.compile(r"(?<![\w.])/(?:v[0-9][\w.]*|[\w-]+/v[0-9][\w.]*)(?:/\S*)?")]


def public_text(text: str) -> str:
    """`text` without internal URLs, API paths and policy rule names (for faults a non-admin reads)."""
    for pattern in _INTERNAL:
        text = pattern.sub("", text)
    return re.sub(r"\s{2,}", " ", text).strip(" :")


class ExternalError(Exception):
    """Another service refused or failed; `status` is its HTTP status (404 means not found).

    str() is the other service's own message (fit for the user who made the request); `details` adds where it
    came from (the service, method and path), which only an admin sees in a server's fault."""

    def __init__(self, message: str, status: int = 500, service: str = "", details: str = ""):
        super().__init__(message)
        self.status = status
        self.service = service
        self.details = details or message


def _wrap(exc: ClientError, target: str) -> ExternalError:
    body = exc.body
    message = str(body)
    if isinstance(body, dict):
        inner = next(iter(body.values()), body) if len(body) == 1 else body
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail") or str(inner)
        if "message" in body:
            message = body["message"]
    return ExternalError(str(message), exc.status, target, f"{exc.url}: {message}")


class _Http:
    def __init__(self, settings):
        self.client = ServiceClient(settings, "compute")

    def _req(self, target, method, path, token=None, **kw):
        """token=None acts with compute's own service credentials; a user's token acts as that user."""
        try:
            return self.client.request(target, method, path, token=token, **kw)
        except ClientError as exc:
            raise _wrap(exc, target) from None
        except OSError as exc:  # connection refused: the service is down
            raise ExternalError(f"{target.capitalize()} service unavailable", 503, target,
                                f"{target} {method} {path}: {exc}") from None


class NetworkClient(_Http):
    """Neutron v2.0 at settings.url('network') + /v2.0."""

    def get_network(self, network_id, token=None) -> dict:
        return self._req("network", "GET", f"/v2.0/networks/{network_id}", token).json()["network"]

    def list_networks(self, token=None, **filters) -> list[dict]:
        return self._req("network", "GET", "/v2.0/networks", token, params=filters).json()["networks"]

    def get_port(self, port_id, token=None) -> dict:
        return self._req("network", "GET", f"/v2.0/ports/{port_id}", token).json()["port"]

    def create_port(self, body: dict, token=None) -> dict:
        return self._req("network", "POST", "/v2.0/ports", token, json={"port": body}).json()["port"]

    def update_port(self, port_id, body: dict, token=None) -> dict:
        return self._req("network", "PUT", f"/v2.0/ports/{port_id}", token, json={"port": body}).json()["port"]

    def delete_port(self, port_id, token=None) -> None:
        self._req("network", "DELETE", f"/v2.0/ports/{port_id}", token, expected=(204, 404))

    def list_ports(self, token=None, **filters) -> list[dict]:
        return self._req("network", "GET", "/v2.0/ports", token, params=filters).json()["ports"]

    def list_floatingips(self, token=None, **filters) -> list[dict]:
        return self._req("network", "GET", "/v2.0/floatingips", token, params=filters).json()["floatingips"]

    def list_subnets(self, token=None, **filters) -> list[dict]:
        return self._req("network", "GET", "/v2.0/subnets", token, params=filters).json()["subnets"]

    def list_security_groups(self, token=None, **filters) -> list[dict]:
        return self._req("network", "GET", "/v2.0/security-groups", token, params=filters).json()["security_groups"]


class ImageClient(_Http):
    """Glance v2 at settings.url('image')."""

    def get_image(self, image_id, token=None) -> dict:
        return self._req("image", "GET", f"/v2/images/{image_id}", token).json()

    def download_chunks(self, image_id, token=None) -> Iterator[bytes]:
        """The image's data in chunks; the request is made (and refused) here, the body read as it is iterated."""
        resp = self._req("image", "GET", f"/v2/images/{image_id}/file", token, stream=True, timeout=300)
        return _Body(resp)

    def list_members(self, image_id, token=None) -> list[dict]:
        return self._req("image", "GET", f"/v2/images/{image_id}/members", token).json()["members"]

    def create_image(self, body: dict, token=None) -> dict:
        return self._req("image", "POST", "/v2/images", token, json=body).json()

    def upload_chunks(self, image_id, chunks: Iterable[bytes], token=None) -> None:
        """The image's data from chunks, sent as they come (a chunked request body)."""
        # the service's token named here: ServiceClient retries a 401 with a fresh one, which would send the
        # already-consumed stream again as an empty body
        token = token or self.client.service_token()
        self._req("image", "PUT", f"/v2/images/{image_id}/file", token, data=iter(chunks),
                  headers={"Content-Type": "application/octet-stream"}, timeout=600)


class _Body:
    """A streamed response body as chunks; close() (or the end) lets the connection go, read or not."""

    def __init__(self, resp, size: int = 1 << 20):
        self.resp, self.chunks = resp, resp.iter_content(size)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.chunks)
        except StopIteration:
            self.close()
            raise
        except requests.RequestException as exc:   # the service went away mid-body
            self.close()
            raise ExternalError("Image service unavailable", 503, "image", f"image download: {exc}") from None

    def close(self) -> None:
        self.resp.close()


class VolumeClient(_Http):
    """Cinder v3 attachments at settings.url('volume') + /v3/{project_id}."""

    H = {"OpenStack-API-Version": "volume 3.44"}

    def get_volume(self, project_id, volume_id, token=None) -> dict:
        return self._req("volume", "GET", f"/v3/{project_id}/volumes/{volume_id}", token,
                         headers=self.H).json()["volume"]

    def create_attachment(self, project_id, volume_id, instance_id, connector: dict, token=None) -> dict:
        body = {"attachment": {"volume_id": volume_id, "instance_uuid": instance_id, "connector": connector}}
        return self._req("volume", "POST", f"/v3/{project_id}/attachments", token, json=body,
                         headers=self.H).json()["attachment"]

    def complete_attachment(self, project_id, attachment_id, token=None) -> None:
        self._req("volume", "POST", f"/v3/{project_id}/attachments/{attachment_id}/action", token,
                  json={"os-complete": None}, headers=self.H)

    def delete_attachment(self, project_id, attachment_id, token=None) -> None:
        self._req("volume", "DELETE", f"/v3/{project_id}/attachments/{attachment_id}", token,
                  headers=self.H, expected=(200, 202, 204, 404))

    def delete_volume(self, project_id, volume_id, token=None) -> None:
        self._req("volume", "DELETE", f"/v3/{project_id}/volumes/{volume_id}", token, headers=self.H,
                  expected=(202, 204, 404))

    def get_pools(self, project_id, token=None) -> list[dict]:
        """Cinder's backend pools with their capabilities (service or admin): `storage_protocol` says whether a
        node's volumes are exported ("iSCSI") or files on its disk ("file")."""
        return self._req("volume", "GET", f"/v3/{project_id}/scheduler-stats/get_pools", token,
                         params={"detail": "true"}, headers=self.H).json()["pools"]


def http_clients(settings) -> dict:
    return {"network": NetworkClient(settings), "image": ImageClient(settings), "volume": VolumeClient(settings)}
