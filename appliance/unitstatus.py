"""Is a unit up: its /healthz URL, one probe of it, and every enabled unit's status (as `egret status` shows)."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from appliance import config, siterole
from appliance.manifest import Unit, load_manifest, start_order

# where a running supervisor records its children (pids, ports, restarts) for `egret status`
RECORD = "run/supervisor.json"
# where the timing service records the node's PTP profile and clock state for `egret status`
PTP_STATE = "timing/ptp-state.json"


def health_url(settings: config.Settings, unit: Unit) -> str:
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    scheme = "https" if unit.extra.get("tls") or settings.tls_enabled else "http"
    return f"{scheme}://{host}:{settings.port(unit.ports[0])}/healthz"


def probe(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        # a health probe asks "does it answer", not "whom do I trust": TLS units' certificates are not checked
        context = ssl._create_unverified_context() if url.startswith("https:") else None
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            # a unit may say one short thing about itself in /healthz's "info" (compute: the domain type)
            try:
                info = json.loads(resp.read(65536) or b"{}").get("info")
            except (ValueError, AttributeError):
                info = None
            return resp.status == 200, str(info) if info else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, exc.__class__.__name__


def status(settings: config.Settings, units: list[Unit] | None = None) -> list[dict]:
    """Each enabled unit: pid, ports and restarts (from the running supervisor's record) and live health."""
    recorded = {}
    path = settings.state_dir / RECORD
    if path.exists():
        state = json.loads(path.read_text())
        if state.get("running"):
            recorded = state.get("units", {})
    rows = []
    if units is None:   # a site's member does not run the API units (appliance/siterole.py)
        units = siterole.own_units(settings, start_order(load_manifest(), settings.enabled_services))
    for unit in units:
        rec = recorded.get(unit.name, {})
        # the running supervisor knows the ports it really used (they may come from its environment)
        url = rec.get("health_url") or health_url(settings, unit)
        ok, detail = probe(url)
        ports = rec.get("ports") if isinstance(rec.get("ports"), dict) else {}
        port = ports.get(unit.ports[0]) or settings.port(unit.ports[0])
        rows.append({"unit": unit.name, "port": port, "healthy": ok, "detail": detail,
                     "pid": rec.get("pid"), "restarts": rec.get("restarts", 0)})
    return rows


def ptp_status(settings: config.Settings) -> dict | None:
    """The node's PTP profile and clock state as the timing service last wrote them; None when PTP is off."""
    path = settings.state_dir / PTP_STATE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if state.get("profile", {}).get("enabled") else None


def ptp_line(state: dict) -> str:
    """One line for `egret status`: the profile, each port's state, the offset and path delay."""
    p, clock = state["profile"], state.get("clock") or {}
    ports = ", ".join(f"port {n} {s}" for n, s in sorted(clock.get("port_states", {}).items()))
    ports = ports or "no answer from ptp4l"
    down = [n for n, proc in state.get("processes", {}).items() if not proc.get("pid")]
    line = f"PTP {p['profile']} {p['role']} ({p['timestamping']} time stamps) on {', '.join(p['interfaces'])}: {ports}"
    if "offset_ns" in clock:
        line += f"; offset {clock['offset_ns']:.0f} ns, path delay {clock['mean_path_delay_ns']:.0f} ns"
    if not p.get("steer_clock", True):
        line += "; measuring only, the clock is not steered"
    return line + (f"; NOT RUNNING: {', '.join(down)}" if down else "")
