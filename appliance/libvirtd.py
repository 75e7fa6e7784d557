"""Start virtlogd/libvirtd as plain processes where no init system runs them (never stops them).

Compute's libvirt driver and the test fixtures both need it, so it sits in the core."""
from __future__ import annotations

import grp
import os
import socket
import subprocess
import time

LIBVIRT_SOCK = "/run/libvirt/libvirt-sock"
VIRTLOGD_SOCK = "/run/libvirt/virtlogd-sock"
# the daemon's default pidfile: libvirtd locks it, so two callers racing here start only one daemon
LIBVIRTD_PIDFILE = "/run/libvirtd.pid"


def fix_kvm_permissions() -> None:
    """Give /dev/kvm the owner udev would (root:kvm 0660) where no udev ran.

    libvirt checks /dev/kvm as its qemu user on every capabilities lookup; a root-only /dev/kvm makes
    it throw its cache away and re-probe QEMU (seconds of CPU) on every defineXML.
    """
    try:
        st = os.stat("/dev/kvm")
        gid = grp.getgrnam("kvm").gr_gid
    except (OSError, KeyError):
        return
    if st.st_gid != gid or (st.st_mode & 0o060) != 0o060:
        try:
            os.chown("/dev/kvm", 0, gid)
            os.chmod("/dev/kvm", 0o660)
        except OSError:
            pass


def answers(path: str) -> bool:
    """True if a daemon accepts connections on the unix socket at `path`.

    A socket file alone proves nothing: a daemon killed without cleanup (or a machine whose processes
    were restarted while /run was kept) leaves the file behind and every connect is refused."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


def ensure_libvirtd(timeout: float = 30.0) -> bool:
    """Make sure libvirtd (and virtlogd) answer on their sockets; True if this call started libvirtd."""
    fix_kvm_permissions()
    if answers(LIBVIRT_SOCK):
        return False
    if not answers(VIRTLOGD_SOCK):
        subprocess.run(["virtlogd", "-d"], check=False, capture_output=True)
    subprocess.run(["libvirtd", "-d", "-p", LIBVIRTD_PIDFILE], check=False, capture_output=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(LIBVIRT_SOCK):
            return True
        time.sleep(0.1)
    raise RuntimeError(f"libvirtd does not answer on {LIBVIRT_SOCK} {timeout}s after starting it")
