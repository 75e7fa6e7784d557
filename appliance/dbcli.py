"""`egret db move --to postgresql://...`: move the box's service databases from SQLite into PostgreSQL."""
from __future__ import annotations

import json
import sys


def cmd_db_move(args, settings) -> int:
    # loaded by the command, not with the parser every `egret` call builds (psycopg2, the migrations)
    from appliance import dbmove, pgserver

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
        if args.local:
            dbmove.already_moved(settings)  # before a role is made or its password changed
            to = dbmove.local_target(settings, pgserver.Psql(args.pg_host, args.pg_port, args.pg_user))
        else:
            to = sys.stdin.readline().strip() if args.to == "-" else args.to
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
    where = m.add_mutually_exclusive_group(required=True)
    where.add_argument("--to",
                       help="postgresql://user:password@host[:port]/egret_{service} ({service} is replaced by each "
                            "service's name; without it '_<service>' is appended to the database name); '-' reads "
                            "the URL from stdin, keeping the password off the command line")
    where.add_argument("--local", action="store_true",
                       help="the PostgreSQL server on this machine (the postgresql package): make Egret's role "
                            "there (password kept 0600 under the state dir) and move into it")
    m.add_argument("--pg-host", default="/var/run/postgresql", help="--local: its socket directory or address")
    m.add_argument("--pg-port", type=int, default=5432, help="--local: its port")
    m.add_argument("--pg-user", default="postgres", help="--local: its superuser (and OS user, for peer auth)")
    m.add_argument("--json", action="store_true", help="print the report (per service: tables, rows, checksums)")
    m.set_defaults(handler=cmd_db_move)
