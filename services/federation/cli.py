"""`egret enrol-token` (run on the hub): issue a single-use enrolment token with direct database access."""
from __future__ import annotations

import json
import sys


def cmd_enrol_token(args, settings) -> int:
    from appliance import jointoken
    from services.federation import models, open_database, schemas
    from services.federation.manager import Manager
    if not schemas.MIN_TTL <= args.ttl <= schemas.MAX_TTL:
        print(f"egret: --ttl must be between {schemas.MIN_TTL} and {schemas.MAX_TTL} seconds", file=sys.stderr)
        return 2
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


def add_parsers(sub) -> None:
    p = sub.add_parser("enrol-token", help="on a federation hub: print a single-use token a site enrols with")
    p.add_argument("--ttl", type=int, default=3600, help="validity in seconds (60..604800, default 3600)")
    p.add_argument("--json", action="store_true", help="print token, hub URL, CA fingerprint and expiry as JSON")
    p.set_defaults(handler=cmd_enrol_token)
