"""Files the Debian image carries besides the generated service units (boot assessment, console, hooks)."""
from __future__ import annotations

from appliance.config import PRIVATE_STATE

EGRET = "/opt/egret/bin/egret"
PY = "/opt/egret/bin/python"

_PRUNE_PRIVATE = " ".join(f"-path /var/lib/egret/{name} -prune -o" for name in PRIVATE_STATE)

STATE_UNIT = f"""\
[Unit]
Description=Egret state directory on the data partition (ownership for the service users)
RequiresMountsFor=/var/lib/egret
After=local-fs.target systemd-tmpfiles-setup.service systemd-sysusers.service

[Service]
Type=oneshot
RemainAfterExit=yes
# `egret bootstrap` and the wizard run as root; the services (group egret) must read and write what they made.
# Not the credential keys (identity creates them as its own user, for itself alone), nor the cluster unit's CA,
# node and site keys (systemd hands that directory to the cluster unit's user).
ExecStart=/bin/sh -c 'find /var/lib/egret {_PRUNE_PRIVATE} -exec chgrp egret {{}} + -exec chmod g+rwX,o-rwx {{}} +'

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
ExecStart={PY} -m appliance.image.console

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


# QEMU test hooks: only a hypervisor that passes -fw_cfg opt/egret/<name> can run them (real boxes have no
# fw_cfg); the early hook runs before the services (e.g. headless answers), the late one after assessment.
HOOK_SCRIPT = """\
#!/bin/sh
# run the QEMU fw_cfg blob opt/egret/$1 (if any) as a shell script; its output goes to the console via kmsg
modprobe qemu_fw_cfg 2>/dev/null
f=/sys/firmware/qemu_fw_cfg/by_name/opt/egret/$1/raw
[ -r "$f" ] || exit 0
cp "$f" /run/egret-hook-$1.sh
echo "EGRET-HOOK $1 start" > /dev/kmsg
sh /run/egret-hook-$1.sh 2>&1 | while IFS= read -r line; do echo "EGRET-HOOK $1: $line" > /dev/kmsg; done
echo "EGRET-HOOK $1 done" > /dev/kmsg
"""


def hook_unit(name: str, service_units: list[str]) -> str:
    units = " ".join(service_units)
    order = (f"After=egret-state.service\nBefore={units} egret-console.service egret-health.service"
             if name == "early" else "After=egret-health.service egret-console.service")
    return f"""\
[Unit]
Description=Egret QEMU test hook ({name})
{order}

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=EGRET_STATE_DIR=/var/lib/egret EGRET_CONFIG_DIR=/etc/egret PATH=/opt/egret/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/usr/lib/egret/hook {name}
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
"""


IMAGE_TOML = """\
# Defaults of the Egret appliance image; the wizard and operators add files next to this one.
state_dir = "/var/lib/egret"
bind_host = "0.0.0.0"

[ports]
# until setup is done the box serves only the wizard, on port 80 (the unit has CAP_NET_BIND_SERVICE)
firstboot = 80

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

# no nofail: it would drop the ordering before local-fs.target, and tmpfiles (the image's config copy) and the
# boot assessment (which blesses entries on the ESP) must see the real partitions
FSTAB = """\
PARTLABEL=esp /boot/efi vfat umask=0077 0 2
PARTLABEL=data /var/lib/egret ext4 defaults 0 2
"""
