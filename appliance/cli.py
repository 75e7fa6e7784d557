"""The egret command: up | bootstrap | migrate | status | serve | keys."""
from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import signal
import sys
import threading

from appliance import config


def migrate_all(settings: config.Settings) -> dict[str, list[str]]:
    from appliance.manifest import load_manifest, start_order
    applied = {}
    # a unit's package is the module of its app (services.<name>, or appliance.cluster.service)
    for unit in {u.service: u for u in start_order(load_manifest(), settings.enabled_services)}.values():
        name, module = unit.service, importlib.import_module(unit.app.split(":")[0])
        if hasattr(module, "migrate"):
            applied[name] = module.migrate(settings)
    return applied


def admin_password_from_env_or_prompt() -> str:
    password = os.environ.get("EGRET_ADMIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise SystemExit("egret: set EGRET_ADMIN_PASSWORD (no terminal to prompt on); there is no default password")
    while True:
        first = getpass.getpass("New admin password: ")
        if len(first) < 8:
            print("At least 8 characters, please.", file=sys.stderr)
            continue
        if getpass.getpass("Repeat it: ") == first:
            return first
        print("The two entries differ; try again.", file=sys.stderr)


def ensure_bootstrapped(settings: config.Settings) -> str | None:
    """Keys, migrations and the first admin; returns the admin password when this call created the admin."""
    from services.identity import bootstrap as ib
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if ib.is_bootstrapped(settings):
        ib.bootstrap(settings, None)  # refreshes catalog and service users, keeps the admin
        return None
    password = admin_password_from_env_or_prompt()
    ib.bootstrap(settings, password)
    return password


def write_clouds_yaml(settings: config.Settings, password: str | None) -> str:
    import yaml
    path = settings.state_dir / "clouds.yaml"
    auth = {"auth_url": settings.url("identity", "/v3"), "username": "admin", "project_name": "admin",
            "user_domain_name": "Default", "project_domain_name": "Default"}
    if password is None and path.exists():
        old = yaml.safe_load(path.read_text()) or {}
        password = old.get("clouds", {}).get("egret", {}).get("auth", {}).get("password")
    if password:
        auth["password"] = password
    doc = {"clouds": {"egret": {"auth": auth, "region_name": settings.region, "interface": "public",
                                "identity_api_version": 3}}}
    if settings.tls_enabled:
        # every API serves the box's certificate (or an operator's): the clients verify it against this CA
        from appliance.pki import ensure_api_tls
        doc["clouds"]["egret"]["cacert"] = str(ensure_api_tls(settings)["ca"])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    return str(path)


ENDPOINT_LABELS = [
    ("identity", "identity (Keystone v3)", "/v3"),
    ("compute", "compute (Nova v2.1)", "/v2.1"),
    ("network", "network (Neutron v2.0)", ""),
    ("image", "image (Glance v2)", ""),
    ("volume", "block-storage (Cinder v3)", "/v3"),
    ("s3", "object-store (S3)", ""),
    ("cluster", "site membership (cluster)", "/v1/cluster"),
    ("federation", "federation", "/v1"),
]


def endpoints(settings: config.Settings, units) -> list[tuple[str, str]]:
    """(label, URL) of each API the units serve; a TLS unit serves https whatever public_scheme says."""
    ports = {p for u in units for p in u.ports}
    tls_ports = {p for u in units if u.extra.get("tls") for p in u.ports}
    out = []
    for port, label, path in ENDPOINT_LABELS:
        if port in ports:
            url = settings.url(port, path)
            out.append((label, "https://" + url.split("://", 1)[1] if port in tls_ports else url))
    return out


def _lock_state_dir(settings: config.Settings):
    """One `egret up` per state directory; the lock dies with the process."""
    import fcntl
    run = settings.state_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    fh = open(run / "egret-up.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        raise SystemExit(f"egret: egret up is already running for {settings.state_dir} (pid {fh.read().strip()})")
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def cmd_up(args, settings: config.Settings) -> int:
    from appliance.supervisor import Supervisor
    lock = _lock_state_dir(settings)  # noqa: F841 (held until exit)
    clouds = write_clouds_yaml(settings, ensure_bootstrapped(settings))
    sup = Supervisor(settings)
    stop = threading.Event()

    def _signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _signal)
    signal.signal(signal.SIGTERM, _signal)
    try:
        sup.start()
    except RuntimeError as exc:
        sup.stop()
        print(f"egret: {exc}", file=sys.stderr)
        return 1
    running = {u.service for u in sup.units}
    print("Egret is up. Endpoints:")
    for label, url in endpoints(settings, sup.units):
        print(f"  {label:28s} {url}")
    if "firstboot" in running:
        print(f"Setup wizard: {settings.url('firstboot', '/')}")
    print(f"clouds.yaml:  {clouds}")
    print(f"  export OS_CLIENT_CONFIG_FILE={clouds}; openstack --os-cloud egret token issue")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            sup.poll_once()
    finally:
        print("Stopping services...", flush=True)
        sup.stop()
        print("Stopped.", flush=True)
    return 0


def cmd_bootstrap(args, settings):
    password = ensure_bootstrapped(settings)
    path = write_clouds_yaml(settings, password)
    print(("Bootstrapped" if password else "Already bootstrapped; catalog refreshed") + f". clouds.yaml: {path}")
    return 0


def cmd_migrate(args, settings):
    for name, applied in migrate_all(settings).items():
        print(f"{name}: {', '.join(applied) if applied else 'up to date'}")
    return 0


def cmd_status(args, settings):
    from appliance.supervisor import status
    rows = status(settings)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'unit':14s} {'port':>6s} {'health':8s} {'pid':>8s} {'restarts':>8s}  info")
        for r in rows:
            info = r["detail"] if r["healthy"] and not r["detail"].startswith("HTTP ") else ""
            print(f"{r['unit']:14s} {r['port']:6d} {'ok' if r['healthy'] else r['detail']:8s} "
                  f"{str(r['pid'] or '-'):>8s} {r['restarts']:8d}  {info}")
    return 0 if all(r["healthy"] for r in rows) else 3


def cmd_serve(args, settings):
    """Run one unit in the foreground (what a systemd unit executes)."""
    from appliance.manifest import load_manifest
    from appliance.supervisor import gunicorn_command, prepare
    unit = load_manifest()[args.unit]
    prepare(settings, unit)
    cmd = gunicorn_command(settings, unit)
    os.environ.update(config.to_env(settings))
    os.execv(cmd[0], cmd)


def cmd_keys(args, settings):
    if args.credential:
        from services.identity import rotate_credential_keys
        from services.identity.sealing import credential_keys
        if args.action == "setup":
            print("created" if credential_keys(settings).setup() else "already set up")
        else:
            primary, rows = rotate_credential_keys(settings)
            print(f"new primary credential key {primary}; {rows} credentials re-encrypted")
        return 0
    from appliance.tokens import KeyRepository
    repo = KeyRepository(settings.key_repository, settings.fernet_max_active_keys)
    if args.action == "setup":
        print("created" if repo.setup() else "already set up")
    else:
        print(f"new primary key {repo.rotate()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="egret", description="Egret cloud appliance")
    parser.add_argument("--state-dir", help="state directory (default ./.egret, or EGRET_STATE_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="bootstrap if needed, start every enabled service, print endpoints")
    sub.add_parser("bootstrap", help="create keys, the admin and the service catalog")
    sub.add_parser("migrate", help="apply database migrations of every enabled service")
    st = sub.add_parser("status", help="health of every enabled service")
    st.add_argument("--json", action="store_true")
    sv = sub.add_parser("serve", help="run one unit in the foreground")
    sv.add_argument("unit")
    ks = sub.add_parser("keys", help="Fernet key repositories: token keys, or credential keys with --credential")
    ks.add_argument("action", choices=["setup", "rotate"])
    ks.add_argument("--credential", action="store_true",
                    help="the keys that encrypt stored credentials (rotate re-encrypts every credential)")
    fb = sub.add_parser("firstboot", help="first-boot setup from an answers file, or print the console banner")
    fb.add_argument("--answers", help="YAML answers file (same steps and validation as the wizard)")
    fb.add_argument("--banner", action="store_true", help="issue a setup code and print the console banner")
    from appliance.image.cli import add_parsers
    add_parsers(sub)  # image write | update apply/status/health/mark-good
    from appliance.cluster.cli import add_parsers as add_cluster_parsers
    add_cluster_parsers(sub)  # join-token | join | cluster show/members/leave
    from services.federation.cli import add_parsers as federation_parsers
    federation_parsers(sub)  # enrol-token (on a hub) | enrol | dial-home (on a site)
    from appliance.tlscli import add_parsers as tls_parsers
    tls_parsers(sub)  # tls show | ensure | install CERT KEY [--ca CA]
    return parser


COMMANDS = {"up": cmd_up, "bootstrap": cmd_bootstrap, "migrate": cmd_migrate, "status": cmd_status,
            "serve": cmd_serve, "keys": cmd_keys,
            "firstboot": lambda args, settings: importlib.import_module("firstboot.headless").main(args, settings)}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"state_dir": args.state_dir} if args.state_dir else {}
    try:
        settings = config.load(**overrides)
    except config.ConfigError as exc:
        print(f"egret: {exc}", file=sys.stderr)
        return 2
    handler = COMMANDS.get(args.command) or args.handler
    return handler(args, settings) or 0


if __name__ == "__main__":
    sys.exit(main())
