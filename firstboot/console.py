"""What the box prints on its console until setup is done: wizard URL, setup code, terminal QR code."""
from __future__ import annotations

import io
import socket

import segno

from appliance.config import Settings
from appliance.image import console as image_console
from appliance.pki import browser_fingerprint, ensure_wizard_tls
from firstboot.setupcode import SetupCode


def wizard_urls(settings: Settings) -> list[str]:
    """URLs an operator can reach: the public host, then every non-loopback IPv4 address of the box."""
    port = settings.port("firstboot")
    scheme = "https" if settings.tls_enabled else settings.public_scheme
    suffix = "" if (scheme, port) in (("http", 80), ("https", 443)) else f":{port}"
    hosts = [settings.public_host]
    try:
        # imported here, inside the guard: not even a broken netlink library may stop the banner from printing
        from firstboot.hardware import list_interfaces
        for nic in list_interfaces():
            hosts += [a.split("/")[0] for a in nic["addresses"] if ":" not in a and not a.startswith("127.")]
    except Exception:  # discovery must never stop the banner from printing
        pass
    return [f"{scheme}://{h}{suffix}/" for h in dict.fromkeys(hosts)]


def qr_text(data: str) -> str:
    """A terminal QR code (half-block characters so it fits an 80x25 console)."""
    qr = segno.make(data, error="m", micro=False)
    out = io.StringIO()
    qr.terminal(out=out, compact=True, border=2)
    return out.getvalue()


def banner(settings: Settings, code: str | None = None) -> str:
    """Issue a fresh setup code (invalidating the previous one) and render the console banner."""
    code = code or SetupCode(settings).issue()
    urls = wizard_urls(settings)
    lines = ["", "Egret first-boot setup", "=" * 22, "",
             "Open the setup wizard in a browser on the management network:"]
    lines += [f"    {u}" for u in urls]
    if settings.tls_enabled:
        # self-signed until setup: the browser warns; the operator accepts it only if these digits match
        cert = ensure_wizard_tls(settings)["cert"].read_text()
        fp = browser_fingerprint(cert)
        lines += ["", "Its certificate is self-signed. Accept it only if its SHA-256 fingerprint is:",
                  f"    {fp[:47]}", f"    {fp[48:]}"]
    lines += ["", f"One-time setup code:  {code}", "", "Or scan this QR code (URL with the code):", ""]
    text = "\n".join(lines) + "\n" + qr_text(f"{urls[-1]}?code={code}")
    return text + f"\nHost name: {socket.gethostname()}\n"


if __name__ == "__main__":
    # the box's console unit (egret-console.service): this banner, shown by the image's console code
    raise SystemExit(image_console.main(banner))
