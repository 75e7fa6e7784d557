"""`egret tls ...`: show the certificate the box's APIs serve, issue it, or install an operator's own."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from appliance import pki
from appliance.endpoints import write_clouds_yaml


def cmd_tls_show(args, settings) -> int:
    files = pki.api_tls_files(settings)
    info = {"enabled": settings.tls_enabled, "cert": str(files["cert"]), "ca": str(files["ca"])}
    if files["cert"].exists():
        info["fingerprint"] = pki.fingerprint(files["cert"].read_text())
        info["ca_fingerprint"] = pki.fingerprint(files["ca"].read_text()) if files["ca"].exists() else None
        info["source"] = "operator" if files["operator"].exists() else "box CA"
    print(json.dumps(info, indent=1))
    return 0


def cmd_tls_ensure(args, settings) -> int:
    files = pki.ensure_api_tls(settings)
    print(f"{files['cert']} ({pki.fingerprint(files['cert'].read_text())}); clients trust {files['ca']}")
    return 0


def cmd_tls_install(args, settings) -> int:
    try:
        cert = Path(args.cert).read_text()
        key = Path(args.key).read_text()
        ca = Path(args.ca).read_text() if args.ca else None
        info = pki.install_operator_tls(settings, cert, key, ca)
    except (OSError, ValueError) as exc:
        print(f"egret: certificate not installed: {exc}", file=sys.stderr)
        return 1
    write_clouds_yaml(settings, None)  # its cacert now names the operator's CA
    print(f"installed {info['fingerprint']} ({info['subject']}, until {info['not_after']}); restart the services "
          f"(systemctl restart 'egret-*', or egret up) to serve it")
    return 0


def add_parsers(sub) -> None:
    t = sub.add_parser("tls", help="the HTTPS certificate of the box's APIs ([tls] enabled)")
    tsub = t.add_subparsers(dest="tls_command", required=True)
    tsub.add_parser("show", help="where the certificate and CA are, and their fingerprints").set_defaults(
        handler=cmd_tls_show)
    tsub.add_parser("ensure", help="issue the certificate from the box CA (again if a name is new)").set_defaults(
        handler=cmd_tls_ensure)
    i = tsub.add_parser("install", help="serve an operator's own certificate (PEM; key unencrypted)")
    i.add_argument("cert", help="certificate, optionally followed by intermediates")
    i.add_argument("key", help="its private key")
    i.add_argument("--ca", help="the CA clients should trust (default: the certificate itself, if self-signed)")
    i.set_defaults(handler=cmd_tls_install)
