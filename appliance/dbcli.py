"""`egret db move --to postgresql://...`: move the box's service databases from SQLite into PostgreSQL."""
from __future__ import annotations

import json
import sys


def cmd_db_move(args, settings) -> int:
    # loaded by the command, not with the parser every `egret` call builds (psycopg2, the migrations)
    from appliance import dbmove
    to = sys.stdin.readline().strip() if args.to == "-" else args.to

    def progress(event):
        if args.json:
            return
        if event["phase"] == "copying":
            print(f"{event['service']}: copying to {event['target']} ...", flush=True)
        else:
            tables = ", ".join(f"{t} {v['rows']}" for t, v in event["tables"].items() if v["rows"])
            print(f"{event['service']}: {event['rows']} rows in {len(event['tables'])} tables verified "
                  f"({event['seconds']:.2f} s){': ' + tables if tables else ''}", flush=True)

    try:
        report = dbmove.move_box(settings, to, progress)
    except dbmove.MoveError as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        print(f"egret db move: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"Moved {len(report['services'])} services, {report['rows']} rows. The services use "
          f"{report['database_url']} from their next start ({report['settings_file']}); the SQLite files are kept "
          f"as <service>.db{dbmove.MOVED_SUFFIX}.")
    if report.get("warning"):
        print(f"warning: {report['warning']}", file=sys.stderr)
    return 0


def add_parsers(sub) -> None:
    d = sub.add_parser("db", help="the services' databases")
    dsub = d.add_subparsers(dest="db_command", required=True)
    m = dsub.add_parser("move", help="move every service database from SQLite into PostgreSQL (stop the services "
                                     "first); verified row by row, all or nothing; the SQLite files are kept")
    m.add_argument("--to", required=True,
                   help="postgresql://user:password@host[:port]/egret_{service} ({service} is replaced by each "
                        "service's name; without it '_<service>' is appended to the database name); '-' reads "
                        "the URL from stdin, keeping the password off the command line")
    m.add_argument("--json", action="store_true", help="print the report (per service: tables, rows, checksums)")
    m.set_defaults(handler=cmd_db_move)
