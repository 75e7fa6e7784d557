"""What a NIC can time-stamp (ethtool's ETHTOOL_GET_TS_INFO ioctl), asked in the namespace the daemons run in."""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading

SIOCETHTOOL = 0x8946
ETHTOOL_GET_TS_INFO = 0x41
CLONE_NEWNET = 0x40000000
# SOF_TIMESTAMPING_* bits a PTP stack needs, in hardware and in software
_HARDWARE = (1 << 0) | (1 << 2) | (1 << 6)        # TX_HARDWARE, RX_HARDWARE, RAW_HARDWARE
_SOFTWARE = (1 << 1) | (1 << 3) | (1 << 4)        # TX_SOFTWARE, RX_SOFTWARE, SOFTWARE
_TS_INFO = struct.Struct("=IIiI3II3I")            # struct ethtool_ts_info


def _ask(ifname: str) -> dict | None:
    info = ctypes.create_string_buffer(_TS_INFO.pack(ETHTOOL_GET_TS_INFO, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0))
    ifreq = struct.pack("16sP", ifname.encode()[:15], ctypes.addressof(info))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
    _, flags, phc, *_ = _TS_INFO.unpack(info.raw[:_TS_INFO.size])
    return {"hardware": flags & _HARDWARE == _HARDWARE, "software": flags & _SOFTWARE == _SOFTWARE,
            "phc_index": phc}


def timestamping(ifname: str, netns: str | None = None) -> dict | None:
    """{"hardware", "software", "phc_index"} for `ifname`; None when the namespace has no such interface."""
    if netns is None:
        return _ask(ifname)
    result: dict = {}

    def inside():
        # setns moves this thread alone; the socket is made in that namespace, and the thread ends with the call
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns to network namespace {netns} failed")
            finally:
                os.close(fd)
            result["value"] = _ask(ifname)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=inside, name="ts-info")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
