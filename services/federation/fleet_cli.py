"""`egret fleet sites|label|decommission|groups` on the hub box: the hub's own database, like `egret enrol-token`."""
from __future__ import annotations

import contextlib
import json
import sys

from appliance import errors


@contextlib.contextmanager
def _hub(settings):
    # the hub's service code loads only here (as in cmd_enrol_token): `egret` reads this module for its parser on
    # every call, and the boot assessment must still run on a slot whose service code is broken
    from services.federation import models, open_database
    from services.federation.manager import Manager
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings)
    try:
        yield Manager(settings)
    finally:
        db.close()
        models.database.initialize(None)


def _run(settings, action) -> int:
    """Run action(manager); a refusal prints the manager's own message (2 for bad input, 1 otherwise)."""
    try:
        with _hub(settings) as manager:
            return action(manager) or 0
    except errors.ApiError as exc:
        print(f"egret: {exc.message}", file=sys.stderr)
        return 2 if exc.status == 400 else 1


def _labels_text(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def cmd_sites(args, settings) -> int:
    def action(manager):
        from services.federation import labels
        selector = labels.parse_pairs(args.label or [], "--label")
        sites = [manager.render(s) for s in manager.list(region=args.region, status=args.status, selector=selector)]
        if args.json:
            print(json.dumps(sites, indent=1))
            return
        print(f"{'NAME':<24} {'STATUS':<15} {'REGION':<16} {'VERSION':<10} {'LAST CONTACT':<21} LABELS")
        for s in sites:
            print(f"{s['name']:<24} {s['status']:<15} {s['region'] or '-':<16} {s['version'] or '-':<10} "
                  f"{s['last_contact'] or 'never':<21} {_labels_text(s['labels'])}")
    return _run(settings, action)


def cmd_label(args, settings) -> int:
    def action(manager):
        from services.federation import labels
        added = labels.parse_pairs(args.pairs, "labels")
        current = dict(manager.get(args.site).labels or {})
        merged = {k: v for k, v in {**current, **added}.items() if k not in set(args.remove or [])}
        site = manager.render(manager.update_site(args.site, {"labels": merged}))
        print(json.dumps(site, indent=1) if args.json else
              f"Site '{site['name']}' labels: {_labels_text(site['labels'])}")
    if not args.pairs and not args.remove:
        print("egret: fleet label needs key=value pairs and/or --remove KEY", file=sys.stderr)
        return 2
    return _run(settings, action)


def cmd_decommission(args, settings) -> int:
    def action(manager):
        site = manager.render(manager.decommission(args.site))
        print(f"Site '{site['name']}' decommissioned at {site['decommissioned_at']}: its certificate is revoked; "
              "it leaves the fleet at its next report.")
    return _run(settings, action)


def cmd_groups(args, settings) -> int:
    def action(manager):
        groups = [manager.render_group(g, with_sites=True) for g in manager.list_groups()]
        if args.json:
            print(json.dumps(groups, indent=1))
            return
        print(f"{'NAME':<24} {'SELECTOR':<32} {'PARALLEL':<9} {'FAILURES':<9} SITES")
        for g in groups:
            print(f"{g['name']:<24} {_labels_text(g['selector']):<32} {g['max_parallel']:<9} "
                  f"{g['max_failures']:<9} {','.join(g['sites']) or '-'}")
    return _run(settings, action)


def add_parsers(sub) -> None:
    fleet = sub.add_parser("fleet", help="on a federation hub: the enrolled sites and site groups")
    cmds = fleet.add_subparsers(dest="fleet_command", required=True)
    s = cmds.add_parser("sites", help="list the sites (status, region, version, last contact, labels)")
    s.add_argument("--region")
    s.add_argument("--status", help="enrolled, online, degraded, offline or decommissioned")
    s.add_argument("--label", action="append", metavar="KEY=VALUE", help="repeatable: every pair must match")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_sites)
    lb = cmds.add_parser("label", help="set (KEY=VALUE) or remove (--remove KEY) labels of a site")
    lb.add_argument("site")
    lb.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    lb.add_argument("--remove", action="append", metavar="KEY")
    lb.add_argument("--json", action="store_true")
    lb.set_defaults(handler=cmd_label)
    d = cmds.add_parser("decommission", help="revoke a site's certificate, keep it listed as decommissioned")
    d.add_argument("site")
    d.set_defaults(handler=cmd_decommission)
    g = cmds.add_parser("groups", help="list the site groups and the sites each matches now")
    g.add_argument("--json", action="store_true")
    g.set_defaults(handler=cmd_groups)
