"""services/manifest.toml → hardened systemd units (the Debian image; nix/lib/units.nix mirrors this exactly)."""
from __future__ import annotations

from appliance import stateplan
from appliance.manifest import Unit, control_plane, site_node

# Where the appliance keeps state and configuration; the data partition is mounted at STATE_DIR.
STATE_DIR = "/var/lib/egret"
CONFIG_DIR = "/etc/egret"
GROUP = "egret"
# The setup gate. A unit without `before_setup` starts only when setup is done (the wizard's marker on the data
# partition: every boot from then on, A/B updates included) or when the wizard's apply opened the gate for this
# boot (a directory under /run, gone at reboot, so a box whose setup was cut short boots to the wizard alone).
# Two triggering conditions (|): either one lets the unit start.
SETUP_DONE = f"{STATE_DIR}/firstboot/setup-done"
RUN_DIR = "/run/egret"
SETUP_GATE = f"{RUN_DIR}/setup-applying"

# Capabilities that need kernel tunables, namespaces or devices: the hardening that would break them
# is dropped only for units that list them.
_NEEDS_TUNABLES = {"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}
_NEEDS_NAMESPACES = {"CAP_SYS_ADMIN"}
_NEEDS_DEVICES = {"CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SYS_RAWIO"}
# the namespaces bubblewrap's --unshare-all makes (a unit with `sandboxes` runs qemu-img in it): the unit may
# create these, nothing more; the sandbox itself holds no capability
_SANDBOX_NAMESPACES = "user mnt pid net ipc uts cgroup"
# a founder's database server (appliance/image/postgres.py): the set-up units start after it. Ordering only (After=,
# no Wants=): on a box that never founded a site the server's condition keeps it off and this orders nothing.
DATABASE_UNIT = "egret-postgresql.service"
# Node agents (`site_node = true`) run only on a box that belongs to a site (founder or member): the cluster unit's
# site file is their condition, and the cluster unit's start pulls them in (the wizard starts it after a found or a
# join). They serve with the node's certificate, which the cluster unit keeps private: before each start root gives
# the site group read access to what they read (the key 0640, the CA directories 0750; the CA's own key stays 0600).
SITE_FILE = f"{STATE_DIR}/cluster/site.json"
SITE_GROUP = "egret-site"
# The API units (`control_plane = true`) do not run on a site's member: it gave up its own cloud at the join, and
# the founder serves the site's (appliance/siterole.py). The join writes this directory, a leave removes it.
MEMBER_DIR = f"{STATE_DIR}/cluster/member"
SITE_READ = ("+/bin/sh -c 'cd " + STATE_DIR + "/cluster || exit 0; "
             "for p in ca ca/ca.crt member member/ca.crt tls/server.key; do "
             "[ -e $p ] && chgrp " + SITE_GROUP + " $p && chmod g+rX,g-w $p; done; exit 0'")


def unit_name(name: str) -> str:
    return f"egret-{name}.service"


def before_setup(unit: Unit) -> bool:
    """True for the units a box that is not set up runs (the wizard); every other unit is gated."""
    return unit.extra.get("before_setup", False) is True


def _words(items) -> str:
    return " ".join(items)


def service_unit(unit: Unit, present: set[str], egret_bin: str) -> dict[str, dict[str, str]]:
    """One unit as {section: {key: value}}; every value a string so the Nix side can match it exactly."""
    caps = sorted(set(unit.capabilities))
    deps = [unit_name(d) for d in unit.after if d in present]
    device_allow = list(unit.extra.get("device_allow", ()))
    svc = {
        "Type": "simple",
        "ExecStart": f"{egret_bin} serve {unit.name}",
        "Environment": f"EGRET_STATE_DIR={STATE_DIR} EGRET_CONFIG_DIR={CONFIG_DIR}",
        "Restart": "on-failure",
        "RestartSec": "2",
        # SIGTERM to the service alone, SIGKILL to what is left of its cgroup once it exits (as the supervisor
        # stops a unit): a daemon it started may ignore SIGTERM (tgtd does), which would hold a stop for 90 s
        "KillMode": "mixed",
        # core keeps every service's database and the Fernet keys side by side in one state dir,
        # so each unit writes its own StateDirectory and the shared top (group egret, see tmpfiles)
        "StateDirectory": f"egret/{unit.state_dir}",
        "StateDirectoryMode": "0750",
        "ReadWritePaths": STATE_DIR,
        "UMask": "0007",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectControlGroups": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictSUIDSGID": "yes",
        "RestrictRealtime": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        # AF_NETLINK: pyroute2 and pyudev talk netlink; without CAP_NET_ADMIN it can only read
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "CapabilityBoundingSet": _words(caps),
    }
    if unit.user != "root":
        svc["User"] = unit.user
        svc["Group"] = GROUP
    if caps:
        svc["AmbientCapabilities"] = _words(caps)
    groups = [*unit.supplementary_groups, *([SITE_GROUP] if site_node(unit) else [])]
    if groups:
        svc["SupplementaryGroups"] = _words(groups)
    if not set(caps) & _NEEDS_TUNABLES:
        svc["ProtectKernelTunables"] = "yes"
    if not set(caps) & _NEEDS_NAMESPACES:
        svc["RestrictNamespaces"] = _SANDBOX_NAMESPACES if unit.extra.get("sandboxes", False) is True else "yes"
    runtime_dir = unit.extra.get("runtime_dir")
    if runtime_dir:
        # ProtectSystem=strict leaves /run read-only; systemd makes this one the unit's (and removes it at stop)
        svc["RuntimeDirectory"] = runtime_dir
        svc["RuntimeDirectoryMode"] = "0750"
    if device_allow:
        svc["DeviceAllow"] = _words(device_allow)
    elif not set(caps) & _NEEDS_DEVICES:
        svc["PrivateDevices"] = "yes"
    head = {
        "Description": unit.description,
        "After": _words(["network-online.target", "egret-state.service", *deps]),
        "Wants": "network-online.target",
        "Requires": _words(["egret-state.service", *deps]),
    }
    if not before_setup(unit):
        head["After"] += " " + DATABASE_UNIT
    if before_setup(unit):
        # the wizard opens the gate (a directory under /run) before it starts the other units
        svc["ReadWritePaths"] = f"{STATE_DIR} -{RUN_DIR}"
    if unit.extra.get("configures_system", False) is True:
        # the box's own /etc and the running host name (ProtectHostname would give it a private UTS namespace)
        svc["ReadWritePaths"] += " /etc"
        del svc["ProtectHostname"]
    else:
        head["ConditionPathExists"] = f"|{SETUP_DONE}"
        head["ConditionPathIsDirectory"] = f"|{SETUP_GATE}"
    wanted_by = ["multi-user.target"]
    if control_plane(unit):
        head["ConditionDirectoryNotEmpty"] = f"!{MEMBER_DIR}"
    if site_node(unit):
        head["ConditionFileNotEmpty"] = SITE_FILE
        svc["ExecStartPre"] = SITE_READ
        if "cluster" in present:
            wanted_by.append(unit_name("cluster"))
    return {
        "Unit": head,
        "Service": svc,
        "Install": {"WantedBy": _words(wanted_by)},
    }


def generate(units: dict[str, Unit], egret_bin: str = "/opt/egret/bin/egret") -> dict:
    """{"units": {file name: sections}, "users": [system users], "group": shared group} for a manifest."""
    present = set(units)
    return {
        "units": {unit_name(n): service_unit(u, present, egret_bin) for n, u in sorted(units.items())},
        "users": sorted({u.user for u in units.values() if u.user != "root"}),
        "group": GROUP,
        "site_users": sorted({u.user for u in units.values() if site_node(u) and u.user != "root"}),
        "site_group": SITE_GROUP,
        # the user itself is put in its units' supplementary groups too: libvirtd asks polkit, whose rule
        # (subject.isInGroup("libvirt")) reads the user's groups from the user database, not the process's
        "memberships": sorted({f"{u.user}:{g}" for u in units.values() if u.user != "root"
                               for g in u.supplementary_groups}),
    }


def render(sections: dict[str, dict[str, str]]) -> str:
    """systemd INI text for one unit."""
    out = ["# generated from services/manifest.toml by appliance/image/units.py; do not edit"]
    for section, values in sections.items():
        out.append(f"\n[{section}]")
        for key in sorted(values):
            out.append(f"{key}={values[key]}")
    return "\n".join(out) + "\n"


def sysusers(generated: dict) -> str:
    lines = [f"g {generated['group']} -"]
    for user in generated["users"]:
        lines.append(f'u {user} - "Egret service {user}" {STATE_DIR}')
        lines.append(f"m {user} {generated['group']}")
    lines += ["m " + pair.replace(":", " ") for pair in generated.get("memberships", [])]
    if generated.get("site_users"):
        lines.append(f"g {generated['site_group']} -")
        lines += [f"m {user} {generated['site_group']}" for user in generated["site_users"]]
    return "\n".join(lines) + "\n"


def tmpfiles() -> str:
    # setgid shared top: files the services create there stay group egret; sticky: no unit renames or deletes
    # another's database or the key repository; others may pass, to the guests' files (appliance/stateplan.py)
    return (f"d {STATE_DIR} {stateplan.TOP_DIR:o} root {GROUP} -\n"
            f"d {STATE_DIR}/config 2770 root {GROUP} -\n"
            f"C {STATE_DIR}/config/00-image.toml - - - - /usr/share/egret/00-image.toml\n"
            f"z {STATE_DIR}/config/00-image.toml 0640 root {GROUP} -\n"
            f"d {RUN_DIR} 0755 root root -\n")
