"""Typed settings: defaults < /etc/egret/*.toml < EGRET_* environment."""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

SERVICE_NAMES = ("identity", "storage", "network", "compute", "cluster", "federation", "firstboot")

DEFAULT_PORTS = {
    "identity": 5000,
    "compute": 8774,
    "metadata": 8775,
    "network": 9696,
    "volume": 8776,
    "image": 9292,
    "s3": 8080,
    "federation": 8119,
    "cluster": 8120,
    "compute_agent": 8121,   # a site node's compute agent (HTTPS, mTLS; optional unit)
    "network_agent": 8122,   # a site node's network agent (HTTPS, mTLS; optional unit)
    "timing": 8123,          # PTP on this node (linuxptp); optional unit
    "firstboot": 8000,
}


class ConfigError(ValueError):
    """A setting has a value of the wrong type or an unknown name."""


# state subdirectories private to the unit that owns them, never shared with group egret (appliance/stateplan.py,
# which egret-state.service and the wizard apply, skips them): identity's credential keys, the cluster unit's CA
# and keys, a hub's CA, the image's PostgreSQL data directory (the postgres user's, 0700)
PRIVATE_STATE = ("credential-keys", "cluster", "federation", "postgresql")
# guests' disks, kernels and config drives (the default `[compute] instances_dir`): libvirt hands a running guest's
# files to its qemu user, which is in no Egret group, so this tree is the hypervisor's, not the plan's
GUEST_FILES = "instances"


@dataclass
class Settings:
    # where every service keeps its state (SQLite files, keys, images, volumes)
    state_dir: Path = Path("./.egret")
    config_dir: Path = Path("/etc/egret")
    # per-service database URL; empty means sqlite:///<state_dir>/<service>.db
    database_url: str = ""
    # address services bind to, and the host name put into the catalog
    bind_host: str = "127.0.0.1"
    public_host: str = "127.0.0.1"
    public_scheme: str = "http"
    region: str = "RegionOne"
    ports: dict = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # services to run; empty means every service in services/manifest.toml
    enabled_services: list = field(default_factory=list)
    # token lifetime in seconds, and how many Fernet keys the repository keeps
    token_expiration: int = 3600
    fernet_max_active_keys: int = 3
    # scrypt cost (N = 2**password_hash_log2n); record it with the bench figures
    password_hash_log2n: int = 15
    max_request_body: int = 1024 * 1024
    # seconds a client may leave a request (its headers or body) without sending a byte before it is cut off
    request_idle_timeout: int = 10
    # gunicorn worker processes and threads per service
    workers: int = 1
    threads: int = 8
    fake_drivers: bool = False
    log_level: str = "INFO"
    # policy overrides: {"identity:list_users": "role:admin"}
    policy: dict = field(default_factory=dict)
    # free-form per-service settings: {"compute": {"domain_type": "qemu"}}
    service: dict = field(default_factory=dict)
    # [tls] enabled = true (the appliance image): every unit serves HTTPS (appliance/pki.py api_tls_files); dev
    # `egret up` stays plain HTTP on loopback unless asked. Optional: sans = ["name", "10.0.0.5"] for the cert.
    tls: dict = field(default_factory=dict)

    @property
    def key_repository(self) -> Path:
        return self.state_dir / "fernet-keys"

    @property
    def credential_key_repository(self) -> Path:
        return self.state_dir / "credential-keys"

    @property
    def revocation_file(self) -> Path:
        # its own directory, which only identity writes: the key repository is read-only to every other unit
        return self.state_dir / "revocations" / "revocations.jsonl"

    @property
    def legacy_revocation_file(self) -> Path:
        """Where boxes set up before issue 12 kept it; moved by identity or egret-state.service."""
        return self.state_dir / "fernet-keys" / "revocations.jsonl"

    def database_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url.replace("{service}", service)
        return f"sqlite:///{self.state_dir / (service + '.db')}"

    def port(self, name: str) -> int:
        return int(self.ports.get(name, DEFAULT_PORTS[name]))

    @property
    def tls_enabled(self) -> bool:
        return _coerce("tls.enabled", self.tls.get("enabled", False), bool)

    def url(self, name: str, path: str = "") -> str:
        scheme = "https" if self.tls_enabled else self.public_scheme
        return f"{scheme}://{self.public_host}:{self.port(name)}{path}"

    def section(self, service: str) -> dict:
        return dict(self.service.get(service, {}))


def _coerce(name: str, value, typ):
    """Convert a TOML or environment value to the field's declared type."""
    origin = typing.get_origin(typ) or typ
    try:
        if origin is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if origin is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if origin is Path:
            return Path(value)
        if origin is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
        if origin is dict:
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
        if origin is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} as {origin.__name__}") from exc
    return value


def _apply(settings: Settings, values: dict, source: str) -> None:
    hints = typing.get_type_hints(Settings)
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        current = getattr(settings, key)
        coerced = _coerce(key, value, hints[key])
        if isinstance(current, dict) and isinstance(coerced, dict):
            # tables merge so one file can override a single port or policy rule
            merged = dict(current)
            for k, v in coerced.items():
                if isinstance(v, dict) and isinstance(merged.get(k), dict):
                    merged[k] = {**merged[k], **v}
                else:
                    merged[k] = v
            coerced = merged
        setattr(settings, key, coerced)


def load(env: dict | None = None, **overrides) -> Settings:
    """Build settings from defaults, then config files, then EGRET_* variables."""
    env = dict(os.environ if env is None else env)
    settings = Settings()
    config_dir = Path(env.get("EGRET_CONFIG_DIR", overrides.get("config_dir", settings.config_dir)))
    settings.config_dir = config_dir
    for path in sorted(glob.glob(str(config_dir / "*.toml"))):
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
        _apply(settings, data, path)
    from_env = {}
    hints = typing.get_type_hints(Settings)
    for key, value in env.items():
        if not key.startswith("EGRET_") or key in ("EGRET_CONFIG_DIR", "EGRET_ADMIN_PASSWORD"):
            continue
        name = key[len("EGRET_"):].lower()
        if name.startswith("port_") and name[5:] in DEFAULT_PORTS:
            from_env.setdefault("ports", {})[name[5:]] = int(value)
        elif name in hints:
            from_env[name] = value
    _apply(settings, from_env, "environment")
    _apply(settings, overrides, "arguments")
    settings.state_dir = settings.state_dir.absolute()
    return settings


def replace(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)


def to_env(settings: Settings) -> dict[str, str]:
    """EGRET_* variables that reproduce `settings` in a child process (which loads them with load())."""
    env = {"EGRET_CONFIG_DIR": str(settings.config_dir)}
    for f in dataclasses.fields(Settings):
        if f.name == "config_dir":
            continue
        value = getattr(settings, f.name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict):
            text = json.dumps(value)
        elif isinstance(value, list):
            text = ",".join(value)
        else:
            text = str(value)
        env[f"EGRET_{f.name.upper()}"] = text
    return env
