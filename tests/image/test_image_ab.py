"""A/B updates on a booted image: set the box up (headless answers), see a tampered and a foreign-signed bundle
refused, apply a signed update and boot the new slot (state kept, every service healthy), then apply a broken
update and watch the box fall back to the previous slot by itself (boot counting + health assessment)."""
from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.image import signing
from appliance.image.bundle import make_bundle
from images import testlayer

SITE = "/opt/egret/lib/python3.11/site-packages"

LATE_HOOK = r"""
set -u
modprobe 9pnet_virtio 2>/dev/null
mkdir -p /mnt/share
mountpoint -q /mnt/share || mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro egretshare /mnt/share
slot=$(sed -n 's/.*egret\.slot=\([ab]\).*/\1/p' /proc/cmdline)
phase=$(cat /var/lib/egret/ab-phase 2>/dev/null || echo 0)
if [ "$phase" = 0 ]; then
  # a factory box runs only the wizard: set it up, so that "every service healthy" decides a good slot
  nic=$(ip -4 route show default | awk '{print $5; exit}')
  sed "s/@NIC@/$nic/" /mnt/share/answers.yaml > /run/answers.yaml
  egret firstboot --answers /run/answers.yaml > /run/firstboot.log 2>&1; rc=$?
  tail -n 4 /run/firstboot.log
  echo "ab-setup exit=$rc"
fi
echo "ab-boot slot=$slot phase=$phase release=$(cat /etc/egret-update 2>/dev/null || echo factory)"
echo "ab-state dbs=$(cd /var/lib/egret && ls *.db 2>/dev/null | tr '\n' ,) note=$(cat /var/lib/egret/ab-note 2>/dev/null || echo none)"
case "$phase" in
0) echo "written-in-slot-$slot" > /var/lib/egret/ab-note
   # the host derives the update bundles while this box boots and sets up
   for _ in $(seq 900); do [ -e /mnt/share/bundles-ready ] && break; sleep 2; done
   for b in tampered foreign; do
     out=$(egret update apply --quiet --json --tries 1 /mnt/share/$b.update.tar 2>&1); rc=$?
     echo "ab-refused $b exit=$rc entries=$(ls /boot/efi/loader/entries | tr '\n' ,) msg=$out"
   done
   egret update apply --quiet --json --tries 1 /mnt/share/good.update.tar && echo 1 > /var/lib/egret/ab-phase \
     && sync && echo ab-applied-good && systemctl reboot ;;
1) [ "$slot" = b ] || { echo "ab-unexpected slot=$slot"; exit 1; }
   egret update status | tr -d '\n'; echo
   egret update apply --quiet --json --tries 1 /mnt/share/broken.update.tar && echo 2 > /var/lib/egret/ab-phase \
     && sync && echo ab-applied-broken && systemctl reboot ;;
*) echo "ab-final slot=$slot"; egret update status | tr -d '\n'; echo ;;
esac
"""


ANSWERS = {
    "admin": {"password": "Tern-Heron-Slots-2026!"},
    "box": {"hostname": "egret-ab", "timezone": "UTC"},
    "network": {"interface": "@NIC@", "mode": "static", "address": "10.0.2.15/24", "gateway": "10.0.2.2"},
    "storage": {"assignments": {}},
    "role": {"role": "standalone"},
}


def derive_update(image: dict, work: Path, name: str, release: str, broken: bool, key=None) -> Path:
    """A new bundle from the built one: root image edited offline with debugfs (no mounts), signed with key
    (default: this build machine's key, the one the image trusts)."""
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(image["bundle"]) as tar:
        for member in ("root.img.zst", "vmlinuz", "initrd.img"):
            tar.extract(member, work)
    root = work / "root.img"
    root.unlink(missing_ok=True)
    subprocess.run(["zstd", "-q", "-d", str(work / "root.img.zst"), "-o", str(root)], check=True)
    (work / "egret-update").write_text(release + "\n")
    cmds = ["cd /etc", f"write {work / 'egret-update'} egret-update"]
    if broken:
        # every service imports appliance.app: this update can never get healthy
        (work / "app.py").write_text('raise RuntimeError("deliberately broken update")\n')
        cmds += [f"cd {SITE}/appliance", "rm app.py", f"write {work / 'app.py'} app.py"]
    script = work / "debugfs.cmds"
    script.write_text("\n".join(cmds) + "\n")
    r = subprocess.run(["debugfs", "-w", "-f", str(script), str(root)], capture_output=True, text=True)
    assert r.returncode == 0 and "rror" not in r.stderr, r.stderr
    # the built bundle is what users get (no hooks); the tests' late hook must run in the new slot too
    testlayer.add_to_ext4(str(root), image["info"]["service_units"])
    key = key or signing.ensure_build_key()
    out = make_bundle(work.parent / f"{name}.update.tar", root, work / "vmlinuz", work / "initrd.img", release,
                      key=key)
    root.unlink()
    return out


def test_ab_update_then_broken_update_falls_back(image, guests, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "answers.yaml").write_text(yaml.safe_dump(ANSWERS))
    g = guests(image["raw"], "ab", smp=2, share=share)
    g.set_hook("late", LATE_HOOK)
    g.start()
    # the bundles are made while the box boots and sets up (minutes under TCG); its hook waits for bundles-ready
    derive_update(image, share / "w-good", "good", "update-good", broken=False)
    derive_update(image, share / "w-broken", "broken", "update-broken", broken=True)
    derive_update(image, share / "w-foreign", "foreign", "update-foreign", broken=False,
                  key=Ed25519PrivateKey.generate())
    tampered = bytearray((share / "good.update.tar").read_bytes())
    with tarfile.open(share / "good.update.tar") as tar:
        tampered[tar.getmember("root.img.zst").offset_data + 4096] ^= 0x01  # one bit of the signed payload
    (share / "tampered.update.tar").write_bytes(bytes(tampered))
    for d in ("w-good", "w-broken", "w-foreign"):
        subprocess.run(["rm", "-rf", str(share / d)], check=True)
    (share / "bundles-ready").touch()
    # 1. factory slot a: only the wizard runs (and is what must be healthy); headless setup; the good update
    first = g.wait_for(r"EGRET-MARKER healthy uptime=\S+ slot=a units=(\S+) blessed=\S+ setup=(\w+)", 900)
    assert first.groups() == ("firstboot", "pending"), first.group(0)
    setup = g.wait_for(r"EGRET-HOOK late: ab-setup exit=(\d+)", 900, first.end())
    assert setup.group(1) == "0", g.tail(80)
    state_a = g.wait_for(r"ab-state dbs=(\S*) note=none", 120, setup.end())
    assert "identity.db" in state_a.group(1), state_a.group(0)
    # a flipped bit and a stranger's key are both refused before anything is written: still one entry
    for name, why in (("tampered", "checksum mismatch for root.img.zst"), ("foreign", "any trusted key")):
        refused = g.wait_for(rf"ab-refused {name} exit=(\d+) entries=(\S*) msg=(.*)", 300, state_a.end())
        assert refused.group(1) == "1" and refused.group(2) == "egret-1-a.conf," and why in refused.group(3), \
            refused.group(0)
    applied = g.wait_for(r'EGRET-HOOK late: (\{"slot": "b", "entry".*\})', 900, state_a.end())
    assert json.loads(applied.group(1))["tries"] == 1
    # 2. slot b boots (the counted entry), gets healthy, is blessed; the data partition kept the state
    on_b = g.wait_for(r"EGRET-MARKER healthy uptime=\S+ slot=b units=(\S+) blessed=(\S+) setup=(\w+)", 900,
                      applied.end())
    assert on_b.group(2) == "egret-2-b.conf", g.tail()
    # set up: the assessment that blessed slot b waited for every unit, not just the wizard
    assert sorted(on_b.group(1).split(",")) == sorted(image["info"]["units"]) and on_b.group(3) == "done"
    boot_b = g.wait_for(r"ab-boot slot=b phase=1 release=update-good", 120, on_b.end())
    state_b = g.wait_for(r"ab-state dbs=(\S*) note=(\S+)", 60, boot_b.end())
    assert state_b.group(1) == state_a.group(1) and state_b.group(2) == "written-in-slot-a"
    # 3. the broken update goes to slot a; its services crash, the assessment fails, the box reboots,
    #    systemd-boot finds slot a's entry out of tries and boots slot b again by itself
    broken = g.wait_for(r'EGRET-HOOK late: (\{"slot": "a", "entry".*\})', 900, state_b.end())
    assert json.loads(broken.group(1))["entry"] == "egret-3-a+1.conf"
    failed = g.wait_for(r"EGRET-MARKER unhealthy unit=\S+ state=\S+ slot=a", 900, broken.end())
    back = g.wait_for(r"EGRET-MARKER healthy uptime=\S+ slot=b", 900, failed.end())
    g.wait_for(r"ab-boot slot=b phase=2 release=update-good", 120, back.end())
    final = g.wait_for(r"ab-final slot=b", 120, back.end())
    status = g.wait_for(r'EGRET-HOOK late: (\{ "current": "b", "boot_order".*\})', 60, final.end())
    order = json.loads(status.group(1))["boot_order"]
    # the blessed good update boots first; the broken entry is out of tries and sorted last
    assert [e["entry"] for e in order] == ["egret-2-b.conf", "egret-3-a+0-1.conf"], order
    assert order[-1]["tries_left"] == 0
