"""The image's PostgreSQL server: off on a standalone box, started (and on every later boot) once it founds a site."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

UNIT = "egret-postgresql.service"
UNIT_PATH = Path("/etc/systemd/system") / UNIT
# on the data partition, so the site's database survives A/B updates of the root slot; its existence is also the
# unit's start condition (the enable symlink lives on the root slot, which an update replaces)
DATA_DIR = Path("/var/lib/egret/postgresql")
SOCKET_DIR = "/var/run/postgresql"  # appliance/pgserver.DEBIAN_SOCKET_DIR, where Psql looks by default


def _systemctl(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=timeout)


def is_local(psql) -> bool:
    """The server the image runs: Debian's socket directory and port (not a server an operator named)."""
    return psql.host in (SOCKET_DIR, "/run/postgresql") and psql.port == 5432


def ensure_started(psql, *, unit_path: Path = UNIT_PATH, data_dir: Path = DATA_DIR, systemctl=_systemctl,
                   timeout: float = 600.0, poll: float = 1.0, clock=time.monotonic, sleep=time.sleep) -> bool:
    """On the image (its unit installed): open the unit's condition, start it (the first start runs initdb) and
    wait until the server accepts connections. False where there is no such unit (a developer box, a test)."""
    if not Path(unit_path).exists():
        return False
    Path(data_dir).mkdir(mode=0o700, exist_ok=True)  # the unit's StateDirectory= gives it to the postgres user
    deadline = clock() + timeout
    try:
        r = systemctl(["start", UNIT], timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"systemctl start {UNIT} did not finish in {timeout:.0f}s") from None
    if r.returncode != 0:
        raise RuntimeError(f"systemctl start {UNIT} failed: {(r.stderr or r.stdout).strip()[:300]}")
    while True:
        try:
            psql.run("SELECT 1")
            return True
        except (OSError, RuntimeError) as exc:
            if clock() >= deadline:
                raise RuntimeError(f"{UNIT} started but accepts no connections: {exc}") from None
        sleep(poll)


def server_unit(pg_bindir: str) -> str:
    """The unit text; `pg_bindir` is the image's /usr/lib/postgresql/<major>/bin."""
    return f"""\
[Unit]
Description=Egret site database: PostgreSQL on the data partition (runs only on a box that founded a site)
RequiresMountsFor=/var/lib/egret
After=local-fs.target network.target egret-state.service
# the founding makes this directory; a standalone box never starts the server
ConditionPathIsDirectory={DATA_DIR}

[Service]
Type=notify
User=postgres
Group=postgres
# the data partition's top is group egret's (0770): the server sees its own directory through a bind mount
StateDirectory=egret/postgresql
StateDirectoryMode=0700
BindPaths={DATA_DIR}:/var/lib/postgresql
Environment=PGDATA=/var/lib/postgresql/data
# peer authentication on the socket (the postgres OS user, appliance/pgserver.Psql), passwords over TCP
ExecStartPre=/bin/sh -c '[ -e "$PGDATA/PG_VERSION" ] || exec {pg_bindir}/initdb -D "$PGDATA" -U postgres -A peer --auth-host=scram-sha-256 -E UTF8 --no-locale'
ExecStart={pg_bindir}/postgres -D ${{PGDATA}} -c listen_addresses=127.0.0.1 -c unix_socket_directories={SOCKET_DIR}
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
KillSignal=SIGINT
TimeoutStartSec=600
Restart=on-failure
RestartSec=2
UMask=0077
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes
ProtectControlGroups=yes
ProtectKernelModules=yes
ProtectKernelTunables=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
"""
