"""The egret command: up | bootstrap | migrate | status | serve | keys | policy list | ... (one parser, handlers).

The parser is built on every `egret` call, so what a command needs is imported by its handler: `egret status`
or the wizard's `egret bootstrap --check` would otherwise load identity, gunicorn, the wizard and every
service's models first (seconds on a busy box).
"""
from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import sys

from appliance import config
from appliance.cluster.cli import add_parsers as add_cluster_parsers
from appliance.dbcli import add_parsers as add_db_parsers
from appliance.image.cli import add_parsers as add_image_parsers
from appliance.manifest import load_manifest, start_order
from appliance.realtimecli import add_parsers as add_realtime_parsers
from appliance.tlscli import add_parsers as add_tls_parsers
from services.federation.cli import add_parsers as add_federation_parsers


def migrate_all(settings: config.Settings) -> dict[str, list[str]]:
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
    from services.identity import bootstrap as identity_bootstrap
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if identity_bootstrap.is_bootstrapped(settings):
        identity_bootstrap.bootstrap(settings, None)  # refreshes catalog and service users, keeps the admin
        return None
    password = admin_password_from_env_or_prompt()
    identity_bootstrap.bootstrap(settings, password)
    return password


def clouds_yaml(settings: config.Settings, password: str | None) -> str:
    """The admin's clouds.yaml: this box's own cloud, or the site's API once the box is a member of a site."""
    from appliance.cluster import membership, siteclouds
    from appliance.endpoints import write_clouds_yaml
    api = siteclouds.member_api(membership.site(settings))
    return siteclouds.write(settings, api) if api else write_clouds_yaml(settings, password)


def cmd_up(args, settings: config.Settings) -> int:
    from appliance import supervisor
    from appliance.cluster import membership, siteclouds
    lock = supervisor.lock_state_dir(settings)  # noqa: F841 (held until exit)
    clouds = clouds_yaml(settings, ensure_bootstrapped(settings))
    info = membership.site(settings)
    api = siteclouds.member_api(info)
    if api:
        # the endpoints printed next are this node's own units, which a member does not advertise
        print(f"This box is node '{info['node']}' of site '{info['site']}': its cloud is the site's API, "
              f"{api['identity_url']} (clouds.yaml below); the units listed next are this node's own, not the "
              "site's.", flush=True)
    return supervisor.run(settings, clouds)


def cmd_bootstrap(args, settings):
    from services.identity import bootstrap as identity_bootstrap
    if args.check:
        # exit status only: 0 when identity has its admin (the wizard asks this as an operator would)
        return 0 if identity_bootstrap.is_bootstrapped(settings) else 1
    if args.undo:
        identity_bootstrap.undo(settings)
        print("Bootstrap undone: identity's database and the service users' secrets are gone")
        return 0
    password = ensure_bootstrapped(settings)
    if args.no_clouds_yaml:
        print("Bootstrapped" if password else "Already bootstrapped; catalog refreshed")
        return 0
    path = clouds_yaml(settings, password)
    print(("Bootstrapped" if password else "Already bootstrapped; catalog refreshed") + f". clouds.yaml: {path}")
    return 0


def cmd_migrate(args, settings):
    for name, applied in migrate_all(settings).items():
        print(f"{name}: {', '.join(applied) if applied else 'up to date'}")
    return 0


def cmd_status(args, settings):
    from appliance.cluster import membership, siteclouds
    from appliance import realtime
    from appliance.unitstatus import ptp_line, ptp_status, status
    rows = status(settings)
    ptp = ptp_status(settings)
    info = membership.site(settings)
    member = info if info and info["role"] == "member" else None
    if args.json:
        # the timing unit's row carries the node's PTP state
        print(json.dumps([{**r, "ptp": ptp} if ptp and r["unit"] == "timing" else r for r in rows], indent=1))
    else:
        if member:
            # a member runs no API unit of its own: its clients use the founder's API
            print(f"This box is node '{member['node']}' of site '{member['site']}': its cloud is the site's API "
                  "(this box runs none of its own):")
            for label, url in siteclouds.endpoints(member):
                print(f"  {label:28s} {url}")
        print(f"{'unit':14s} {'port':>6s} {'health':8s} {'pid':>8s} {'restarts':>8s}  info")
        for r in rows:
            info = r["detail"] if r["healthy"] and not r["detail"].startswith("HTTP ") else ""
            print(f"{r['unit']:14s} {r['port']:6d} {'ok' if r['healthy'] else r['detail']:8s} "
                  f"{str(r['pid'] or '-'):>8s} {r['restarts']:8d}  {info}")
        if ptp:
            print(ptp_line(ptp))
        if realtime.profile(settings)["enabled"]:
            print("\n".join(realtime.status_lines(realtime.profile(settings))))
    return 0 if all(r["healthy"] for r in rows) else 3


def cmd_serve(args, settings):
    """Run one unit in the foreground (what a systemd unit executes)."""
    from appliance.processes import gunicorn_command, prepare
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


def cmd_policy(args, settings):
    from appliance import policycli
    return policycli.cmd_policy_list(args, settings)


def cmd_purge(args, settings):
    """`egret compute purge` / `egret network purge`: the service's own command (a forced join runs them)."""
    module = importlib.import_module(f"services.{args.command}.purge")
    return module.cmd_purge(args, settings)


def cmd_firstboot(args, settings):
    from firstboot import headless
    return headless.main(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="egret", description="Egret cloud appliance")
    parser.add_argument("--state-dir", help="state directory (default ./.egret, or EGRET_STATE_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="bootstrap if needed, start every enabled service, print endpoints")
    bs = sub.add_parser("bootstrap", help="create keys, the admin and the service catalog")
    bs_what = bs.add_mutually_exclusive_group()
    bs_what.add_argument("--check", action="store_true", help="only tell (exit status 0/1) whether it was done")
    bs_what.add_argument("--undo", action="store_true",
                         help="forget a bootstrap (identity's database, service users' secrets; keys stay)")
    bs_what.add_argument("--no-clouds-yaml", action="store_true", help="do not write the admin's clouds.yaml")
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
    for service, what in (("compute", "destroy this box's servers' guests and delete their instance files"),
                          ("network", "remove this box's data plane: bridges, namespaces, dnsmasq, nft tables")):
        actions = sub.add_parser(service, help=f"{service} service commands: purge")
        actions.add_subparsers(dest="action", required=True).add_parser(
            "purge", help=what + " (idempotent; the databases are left to `egret join --force`)")
        actions.set_defaults(handler=cmd_purge)
    add_image_parsers(sub)  # image write | update apply/status/health/mark-good
    add_cluster_parsers(sub)  # join-token | join | cluster show/members/leave
    add_federation_parsers(sub)  # enrol-token (on a hub) | enrol | dial-home (on a site)
    pol = sub.add_parser("policy", help="the API policy: who may call what")
    pol_list = pol.add_subparsers(dest="policy_command", required=True).add_parser(
        "list", help="every route of every service: method, path, rule, the rule's text (defaults merged with "
                     "[policy] overrides), attribute rules")
    pol_list.add_argument("--service", help="only this one (identity, compute, network, storage, federation, "
                                            "cluster)")
    pol_list.add_argument("--json", action="store_true")
    add_tls_parsers(sub)  # tls show | ensure | install CERT KEY [--ca CA]
    add_realtime_parsers(sub)  # realtime show | apply [--esp]
    add_db_parsers(sub)  # db move --to postgresql://... [--json]
    return parser


COMMANDS = {"up": cmd_up, "bootstrap": cmd_bootstrap, "migrate": cmd_migrate, "status": cmd_status,
            "serve": cmd_serve, "keys": cmd_keys, "policy": cmd_policy, "firstboot": cmd_firstboot}


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
