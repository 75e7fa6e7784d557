"""`egret enrol-token` and `egret fleet` (on the hub, direct database access); `egret enrol` and `egret dial-home`
(on a site)."""
from __future__ import annotations

import json
import sys

from appliance import federation_site, jointoken, pki
from services.federation import fleet_cli, schemas


def cmd_enrol_token(args, settings) -> int:
    if not schemas.MIN_TTL <= args.ttl <= schemas.MAX_TTL:
        print(f"egret: --ttl must be between {schemas.MIN_TTL} and {schemas.MAX_TTL} seconds", file=sys.stderr)
        return 2
    # the hub's service code loads only here: `egret` reads this module for its parser on every call, the
    # boot assessment (`egret update health`) included, which must still judge a slot whose services are broken
    from services.federation import models, open_database
    from services.federation.manager import Manager
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings)
    try:
        issued = Manager(settings).issue_token(args.ttl, created_by="egret enrol-token")
    finally:
        db.close()
        models.database.initialize(None)
    if args.json:
        print(json.dumps(issued))
        return 0
    print(issued["token"])
    print(f"Hub:            {issued['hub_url']}", file=sys.stderr)
    print(f"CA fingerprint: {jointoken.pretty_fingerprint(issued['ca_fingerprint'])}", file=sys.stderr)
    print(f"Expires:        {issued['expires_at']} (single use)", file=sys.stderr)
    return 0


def cmd_enrol(args, settings) -> int:
    """On a site: enrol this box in the hub the token names (what the wizard's 'enrol' role does)."""
    if args.forget:
        federation_site.forget(settings)
        print("Forgot the local enrolment (the hub keeps the site until an admin revokes it).")
        return 0
    if not args.token or not args.site:
        print("egret: enrol needs a token and --site NAME (or --forget)", file=sys.stderr)
        return 2
    info = federation_site.local_report(settings)[1]
    try:
        record = federation_site.enrol(settings, args.token, site_name=args.site, info=info, hub_url=args.hub_url)
    except federation_site.EnrolError as exc:
        print(f"egret: enrolment failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(record) if args.json else
          f"Enrolled as site '{record['site']}' in {record['hub_url']} "
          f"(hub CA {jointoken.pretty_fingerprint(record['ca_fingerprint'])}).")
    return 0


def cmd_dial_home(args, settings) -> int:
    """On a site: send one report (each unit's health, what runs here) to the hub over mTLS."""
    health, inventory = federation_site.local_report(settings)
    try:
        answer = federation_site.report(settings, health, inventory)
    except federation_site.Decommissioned as exc:
        # not a failure: the hub let this site go, and the local enrolment is gone with it
        print(json.dumps({"decommissioned": True, "message": str(exc)}) if args.json else str(exc))
        return 0
    except (federation_site.EnrolError, pki.PeerError) as exc:
        print(f"egret: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer) if args.json else
          f"Reported to the hub; site status {answer['site']['status']}, next report in {answer['next_report_in']}s.")
    renewal = answer.get("certificate_renewal")
    if renewal and not args.json:
        print(f"Renewed the site certificate; valid until {renewal['expires_at']}." if renewal["renewed"] else
              f"egret: renewing the site certificate failed (the current one is kept): {renewal['error']}",
              file=sys.stdout if renewal["renewed"] else sys.stderr)
    return 0


def add_parsers(sub) -> None:
    fleet_cli.add_parsers(sub)  # fleet sites | label | decommission | groups (on the hub)
    p = sub.add_parser("enrol-token", help="on a federation hub: print a single-use token a site enrols with")
    p.add_argument("--ttl", type=int, default=3600, help="validity in seconds (60..604800, default 3600)")
    p.add_argument("--json", action="store_true", help="print token, hub URL, CA fingerprint and expiry as JSON")
    p.set_defaults(handler=cmd_enrol_token)
    e = sub.add_parser("enrol", help="on a site: enrol this box in a federation hub with an enrol token")
    e.add_argument("token", nargs="?")
    e.add_argument("--site", help="this site's name in the hub (a DNS label)")
    e.add_argument("--hub-url", help="reach the hub at this https:// URL instead of the token's")
    e.add_argument("--forget", action="store_true", help="remove the local enrolment (certificate and key)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(handler=cmd_enrol)
    d = sub.add_parser("dial-home", help="on an enrolled site: send one health/inventory report to the hub")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_dial_home)
