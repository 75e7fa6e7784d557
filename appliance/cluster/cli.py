"""`egret join-token`, `egret join <token>`, `egret cluster members|leave|show|found NAME` on a box."""
from __future__ import annotations

import json

from appliance import errors, jointoken, siterole
from appliance.cluster import drain

# the cluster's modules (its Flask app, models, the join client) load when a cluster command runs, not with
# the parser that every `egret` call builds


def _open(settings):
    from appliance.cluster import models, service
    from appliance.db import open_service_database
    open_service_database(settings, "cluster", models.database, package=service.PACKAGE)


def cmd_join_token(args, settings) -> int:
    from appliance.cluster import membership
    _open(settings)
    try:
        out = membership.issue_token(settings, args.ttl)
    except errors.ApiError as exc:
        print(f"egret join-token: {exc.message}")
        return 1
    print(out["token"])
    print(f"# expires {out['expires_at']}; single use; site CA {jointoken.pretty_fingerprint(out['ca_fingerprint'])}")
    return 0


def cmd_join(args, settings) -> int:
    from appliance.cluster import siteclouds
    from appliance.cluster.join import JoinError, join
    try:
        info = join(settings, args.token, name=args.name, address=args.address, force=args.force)
    except JoinError as exc:
        print(f"egret join: {exc}")
        return 1
    print(f"joined site '{info['site']}' as node '{info['node']}' (site CA "
          f"{jointoken.pretty_fingerprint(info['ca_fingerprint'])})")
    for line in info.get("purged", []):
        print(f"--force: {line}")
    for path in info.get("dropped", []):
        print(f"dropped this box's own {path} (--force)")
    if (info.get("api") or {}).get("identity_url"):
        print(f"this box gave up its own cloud: its clients use the site's API, {info['api']['identity_url']} "
              f"({siteclouds.clouds_path(settings)})")
    for line in siterole.apply_to_units(settings):
        print(line)
    return 0


def cmd_found(args, settings) -> int:
    from appliance import dbmove, pgserver
    from appliance.cluster.founding import found_site
    if not args.name:
        print("egret cluster found: name the site (egret cluster found NAME)")
        return 2

    def progress(event):
        if event["phase"] == "verified":
            print(f"{event['service']}: {event['rows']} rows moved to PostgreSQL and verified", flush=True)
    try:
        out = found_site(settings, args.name, psql=pgserver.Psql(args.pg_host, args.pg_port, args.pg_user),
                         keep_sqlite=args.keep_sqlite, progress=progress)
    except (dbmove.MoveError, errors.ApiError) as exc:
        print(f"egret cluster found: {getattr(exc, 'message', None) or exc}")
        return 1
    print(f"this box founded site '{out['site']['site']}' (site CA "
          f"{jointoken.pretty_fingerprint(out['site']['ca_fingerprint'])})")
    print(_database_line(out["database"]))
    if out["move"] and out["move"]["services"]:
        print(f"the services use {out['move']['database_url']} from their next start "
              f"({out['move']['settings_file']}); the SQLite files are kept as <service>.db{dbmove.MOVED_SUFFIX}")
    return 0


def _database_line(database: dict) -> str:
    if database.get("engine") == "sqlite":
        return (f"the site keeps its control plane in SQLite ({database.get('reason')}): it takes no member until "
                "it moves to PostgreSQL (`egret db move --local` with the services stopped)")
    if database.get("engine") == "postgresql":
        return f"the site's control plane keeps its state in PostgreSQL ({database.get('url', '')})"
    return "the site's database was not recorded when it was founded"


def cmd_cluster(args, settings) -> int:
    from appliance.cluster import membership
    if args.action == "found":
        return cmd_found(args, settings)
    info = membership.site(settings)
    if args.action == "show":
        shown = {"role": membership.role(settings), **(info or {})}
        if info and info["role"] == "founder":
            database = info.get("database") or {}
            if database.get("engine") == "sqlite" and not membership.shared_database_problem(settings, info):
                database = {"engine": "postgresql", "url": "moved since the founding"}  # `egret db move` was run
            shown["database_note"] = _database_line(database)
        print(json.dumps(shown, indent=1))
        return 0
    if args.action == "leave":
        if info and info["role"] == "founder":
            print("egret cluster leave: this box founded the site; it cannot leave it")
            return 1
        membership.leave(settings)
        print("this box is standalone now")
        for line in siterole.apply_to_units(settings):
            print(line)
        return 0
    if not info:
        print("this box is standalone")
        return 0
    if info["role"] == "founder":
        _open(settings)
    for row in membership.known_members(settings):
        skew = f"  version skew ({row.get('version') or 'unknown'})" if row.get("version_skew") else ""
        print(f"{row['name']:<24} {row['address']:<24} {row['status']:<8} last seen {row['last_seen'] or '-'}"
              f"{skew}")
    return 0


def add_parsers(sub) -> None:
    jt = sub.add_parser("join-token", help="print a single-use token another box joins this site with")
    jt.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (60..604800)")
    jt.set_defaults(handler=cmd_join_token)
    jn = sub.add_parser("join", help="join the site that issued TOKEN")
    jn.add_argument("token")
    jn.add_argument("--name", help="this node's name in the site (default: the host name)")
    jn.add_argument("--address", help="host:port the site reaches this box at (default: public_host)")
    jn.add_argument("--force", action="store_true",
                    help="join even though this box's own cloud holds servers, volumes or images: their guests "
                         "are destroyed and they are dropped (stop the services first)")
    jn.set_defaults(handler=cmd_join)
    cl = sub.add_parser("cluster", help="this box's site: show, members, leave, found NAME")
    cl.add_argument("action", choices=["show", "members", "leave", "found"], nargs="?", default="members")
    cl.add_argument("name", nargs="?", help="found: the new site's name")
    cl.add_argument("--keep-sqlite", action="store_true",
                    help="found: keep the control plane in SQLite (the site then takes no member)")
    cl.add_argument("--pg-host", default="/var/run/postgresql", help="found: the local PostgreSQL's socket dir")
    cl.add_argument("--pg-port", type=int, default=5432, help="found: its port")
    cl.add_argument("--pg-user", default="postgres", help="found: its superuser (and OS user, for peer auth)")
    cl.set_defaults(handler=cmd_cluster)
    drain.add_to(cl)   # egret cluster drain NODE [--json]
