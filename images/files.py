"""Files the Debian image carries besides the generated service units (boot assessment, console, config)."""
from __future__ import annotations

EGRET = "/opt/egret/bin/egret"
PY = "/opt/egret/bin/python"

STATE_UNIT = f"""\
[Unit]
Description=Egret state directory on the data partition (ownership for the service users)
RequiresMountsFor=/var/lib/egret
After=local-fs.target systemd-tmpfiles-setup.service systemd-sysusers.service

[Service]
Type=oneshot
RemainAfterExit=yes
# [tls]: a box set up by an older image has no API certificate yet; issue it from the box CA (root holds that key
# for this moment only; kept if an operator installed their own) before the services start and before sharing.
# Best effort ('-'): a failure here must not keep the services from starting (they report it, unhealthy).
Environment=EGRET_STATE_DIR=/var/lib/egret EGRET_CONFIG_DIR=/etc/egret
ExecStart=-/bin/sh -c '[ ! -e /var/lib/egret/firstboot/setup-done ] || {EGRET} tls ensure'
# `egret bootstrap` and the wizard run as root: appliance/stateplan.py gives each unit's user its own database,
# state subdir and service credentials, and identity's user the revocations; the token keys stay root's. Group egret
# reads both, no other unit writes them; everything else is group read-only. Not appliance.config.PRIVATE_STATE (the credential
# keys, the cluster unit's CA and keys, a hub's CA: each unit's own, 0700). The wizard reloads this unit before it
# starts each service it set up (a reload: a restart would restart every unit that Requires= this one).
ExecStart={PY} -m appliance.stateplan /var/lib/egret
# the wizard's reload before it starts each unit also issues the API certificate when none is there yet: a member's
# clouds.yaml names the site's API, so the step that writes it no longer issues this box's own (issue 14)
ExecReload=-/bin/sh -c '[ -d /run/egret/setup-applying ] || [ -e /var/lib/egret/firstboot/setup-done ] || exit 0; [ -e /var/lib/egret/tls/server.crt ] || {EGRET} tls ensure'
ExecReload={PY} -m appliance.stateplan /var/lib/egret

[Install]
WantedBy=multi-user.target
"""

CONSOLE_UNIT = f"""\
[Unit]
Description=Egret console banner: wizard URL and setup code
After=egret-state.service network.target
Wants=egret-state.service

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=EGRET_STATE_DIR=/var/lib/egret EGRET_CONFIG_DIR=/etc/egret
ExecStart={PY} -m firstboot.console

[Install]
WantedBy=multi-user.target
"""

# at every boot (IRQ affinity and the governor do not survive one) and when the wizard sets the profile (a restart)
REALTIME_UNIT = f"""\
[Unit]
Description=Egret real-time profile: IRQ affinity and CPU governor now, the kernel and its arguments for the next boot
After=local-fs.target egret-state.service
RequiresMountsFor=/boot/efi /var/lib/egret

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=EGRET_STATE_DIR=/var/lib/egret EGRET_CONFIG_DIR=/etc/egret
ExecStart={EGRET} realtime apply

[Install]
WantedBy=multi-user.target
"""


def health_unit(service_units: list[str]) -> str:
    after = " ".join(["egret-state.service", *service_units])
    return f"""\
[Unit]
Description=Egret boot assessment: every service healthy, then bless the boot entry (else reboot)
After={after}
Before=boot-complete.target
Wants=boot-complete.target
RequiresMountsFor=/boot/efi /var/lib/egret

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=EGRET_STATE_DIR=/var/lib/egret EGRET_CONFIG_DIR=/etc/egret
ExecStart={EGRET} update health --timeout 900
TimeoutStartSec=infinity
# a slot that never gets healthy is abandoned: the reboot spends one of its boot-counter tries
FailureAction=reboot

[Install]
WantedBy=multi-user.target
RequiredBy=boot-complete.target
"""


IMAGE_TOML = """\
# Defaults of the Egret appliance image; the wizard and operators add files next to this one.
state_dir = "/var/lib/egret"
bind_host = "0.0.0.0"

[ports]
# until setup is done the box serves only the wizard, over HTTPS on port 443 (the unit has CAP_NET_BIND_SERVICE)
firstboot = 443

[tls]
# every API serves HTTPS: the wizard a self-signed certificate before setup (its fingerprint is on the console),
# every unit the box CA's certificate after it (clouds.yaml's cacert); `egret tls install` for an operator's own
enabled = true

[service.firstboot]
# the wizard writes the box's own /etc (host name, time zone, NTP, resolver, management network)
system_root = "/"
"""

NETWORK = """\
[Match]
Name=en* eth*

[Network]
DHCP=yes
LinkLocalAddressing=yes

[DHCPv4]
UseHostname=no
"""

# The state dir is group-writable with the sticky bit (appliance/stateplan.py): each unit creates its own database
# there and none can rename or delete another's. Debian's 99-protect-links.conf sets fs.protected_regular = 2,
# which also refuses root's O_CREAT open of a unit's database in such a directory (`egret join-token` writing
# cluster.db: "attempt to write a readonly database"). 1 (systemd's default) keeps the protection where it
# matters, in world-writable sticky directories such as /tmp. The name sorts after Debian's file.
SYSCTL_NAME = "99-zz-egret-state.conf"
SYSCTL = "fs.protected_regular = 1\n"

# no nofail: it would drop the ordering before local-fs.target, and tmpfiles (the image's config copy) and the
# boot assessment (which blesses entries on the ESP) must see the real partitions
FSTAB = """\
PARTLABEL=esp /boot/efi vfat umask=0077 0 2
PARTLABEL=data /var/lib/egret ext4 defaults 0 2
"""
