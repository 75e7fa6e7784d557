#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine for Egret: apt packages, the virtualenv and its Python deps.
# Idempotent: a stamp records what was installed, so a second run costs a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build + runtime of the Python venv
  python3-venv python3-dev gcc pkg-config git make curl ca-certificates
  # compute: libvirt + QEMU (TCG here, KVM on real hardware) and the tiny test guest
  libvirt-daemon-system libvirt-dev qemu-system-x86 qemu-utils busybox-static cpio genisoimage
  # the cloud-init guest test logs in over SSH with a generated key
  openssh-client
  # network: bridges/netns/nftables/dnsmasq
  iproute2 nftables dnsmasq-base iputils-ping arping conntrack
  # timing: PTP (ptp4l, phc2sys, pmc); bench/realtime.py's wake-up latencies (cyclictest)
  linuxptp rt-tests
  # storage (bubblewrap: qemu-img runs sandboxed, seeing only its source and destination)
  lvm2 e2fsprogs bubblewrap
  # storage's iSCSI export to other nodes: tgtd, a userspace target (these kernels have no LIO), and QEMU's libiscsi
  # initiator (the contract tests log in to tgtd with qemu-io through it)
  tgt qemu-block-extra
  # cluster/identity tests on a real PostgreSQL
  postgresql postgresql-client libpq-dev
  # browser tests of the wizard
  chromium chromium-driver
  # the appliance image (Debian path) and Nix static checks
  mmdebstrap ovmf mtools dosfstools fdisk systemd-boot-efi zstd nix-bin
)

stamp=.egret/setup.stamp
want="$(printf '%s\n' "${APT_PACKAGES[@]}" | sha256sum | cut -c1-16)-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/egret ]; then
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  missing=$(dpkg-query -W -f='${Status} ${Package}\n' "${APT_PACKAGES[@]}" 2>/dev/null | awk '$3!="installed"{print $4}' || true)
  # dpkg-query omits packages it has never heard of, so compare counts too
  known=$(dpkg-query -W -f='${Package}\n' "${APT_PACKAGES[@]}" 2>/dev/null | wc -l || true)
  if [ -n "$missing" ] || [ "$known" -lt "${#APT_PACKAGES[@]}" ]; then
    echo "==> apt-get install (${#APT_PACKAGES[@]} packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
  fi
else
  echo "warning: not root; skipping apt packages (need: ${APT_PACKAGES[*]})" >&2
fi

# Debian's interpreter, so the dev venv matches what the appliance image runs
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> virtualenv .venv"
  "$PY" -m venv .venv
fi
echo "==> pip install -e .[test]"
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
mkdir -p .egret
echo "$want" > "$stamp"
