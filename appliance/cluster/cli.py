"""`egret join-token`, `egret join <token>`, `egret cluster members|leave|show` on a box."""
from __future__ import annotations

import json

from appliance import errors, jointoken

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
    from appliance.cluster.join import JoinError, join
    try:
        info = join(settings, args.token, name=args.name, address=args.address)
    except JoinError as exc:
        print(f"egret join: {exc}")
        return 1
    print(f"joined site '{info['site']}' as node '{info['node']}' (site CA "
          f"{jointoken.pretty_fingerprint(info['ca_fingerprint'])})")
    return 0


def cmd_cluster(args, settings) -> int:
    from appliance.cluster import membership
    info = membership.site(settings)
    if args.action == "show":
        print(json.dumps({"role": membership.role(settings), **(info or {})}, indent=1))
        return 0
    if args.action == "leave":
        if info and info["role"] == "founder":
            print("egret cluster leave: this box founded the site; it cannot leave it")
            return 1
        membership.leave(settings)
        print("this box is standalone now")
        return 0
    if not info:
        print("this box is standalone")
        return 0
    if info["role"] == "founder":
        _open(settings)
    for row in membership.known_members(settings):
        print(f"{row['name']:<24} {row['address']:<24} {row['status']:<8} last seen {row['last_seen'] or '-'}")
    return 0


def add_parsers(sub) -> None:
    jt = sub.add_parser("join-token", help="print a single-use token another box joins this site with")
    jt.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (60..604800)")
    jt.set_defaults(handler=cmd_join_token)
    jn = sub.add_parser("join", help="join the site that issued TOKEN")
    jn.add_argument("token")
    jn.add_argument("--name", help="this node's name in the site (default: the host name)")
    jn.add_argument("--address", help="host:port the site reaches this box at (default: public_host)")
    jn.set_defaults(handler=cmd_join)
    cl = sub.add_parser("cluster", help="this box's site: show, members, leave")
    cl.add_argument("action", choices=["show", "members", "leave"], nargs="?", default="members")
    cl.set_defaults(handler=cmd_cluster)
