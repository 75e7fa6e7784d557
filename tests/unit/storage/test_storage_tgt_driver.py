"""The tgt driver's parts that need no daemon: what it reads from `tgtadm --op show`, what it refuses to pass on."""
from __future__ import annotations

import pytest

from services.storage.drivers.base import DriverError
from services.storage.drivers.tgt import TgtTarget, check_value, parse_show

# tgtadm 1.0.85's listing (Debian 12), with a session, an outgoing account and a target without LUN 1
SHOW = """Target 1: iqn.2026-12.dev.egret:attachment-abc
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 1
            Initiator: iqn.2026-12.dev.egret:beta alias: beta
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            Backing store type: null
            Backing store path: None
            Backing store flags: 
        LUN: 1
            Type: disk
            Size: 84 MB, Block size: 512
            Backing store type: rdwr
            Backing store path: /var/lib/egret/storage/volumes/volume-1.qcow2
            Backing store flags: 
    Account information:
        egret-abc
        mutual (outgoing)
    ACL information:
        iqn.2026-12.dev.egret:beta
Target 3: iqn.2001-04.com.example:empty
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
    Account information:
    ACL information:
        ALL
"""


def test_show_is_read_per_target():
    assert parse_show(SHOW) == {
        "iqn.2026-12.dev.egret:attachment-abc": {
            "tid": 1, "path": "/var/lib/egret/storage/volumes/volume-1.qcow2",
            "initiators": ["iqn.2026-12.dev.egret:beta"], "accounts": ["egret-abc"]},
        "iqn.2001-04.com.example:empty": {"tid": 3, "path": None, "initiators": ["ALL"], "accounts": []}}
    assert parse_show("") == {}


@pytest.mark.parametrize("value", ["a,b", "a=b", "a b", "a\tb", "a\nb", "a\x00", "\x7f", "", None, 7])
def test_values_tgtadm_would_misread_are_refused(value):
    with pytest.raises(DriverError, match="refusing"):
        check_value("initiator name", value)


def test_safe_values_pass():
    for value in ("iqn.2026-12.dev.egret:attachment-0f4c", "/var/lib/egret/storage/volumes/volume-1.qcow2",
                  "egret-0f4c", "Zx_-9aQ"):
        assert check_value("x", value) == value


def test_a_missing_daemon_is_named_before_anything_runs(tmp_path):
    t = TgtTarget("127.0.0.1:3260", 0, tgtd=str(tmp_path / "no-tgtd"), tgtadm=str(tmp_path / "no-tgtadm"))
    assert t.available() == "tgtd is not installed (Debian package tgt)"
    assert not t.answers() and t.targets() == {}
    t.unexport("iqn.2026-12.dev.egret:attachment-x")   # nothing is exported by a daemon that is not there
    with pytest.raises(DriverError, match="tgtd is not installed"):
        t.ensure_running()
    (tmp_path / "no-tgtd").write_text("#!/bin/sh\n")
    (tmp_path / "no-tgtd").chmod(0o755)
    assert t.available() == "tgtadm is not installed (Debian package tgt)"


@pytest.mark.parametrize("portal,control,words", [
    ("127.0.0.1:3260", 32768, "iscsi_control_port"), ("127.0.0.1:3260", -1, "iscsi_control_port"),
    ("127.0.0.1:3260", "seven", "iscsi_control_port"), ("127.0.0.1", 0, "iscsi_portal"),
    ("127.0.0.1:3260,portal=0.0.0.0:3260", 0, "iscsi_portal"), ("127.0.0.1:99999", 0, "iscsi_portal"),
    ("host name:3260", 0, "iscsi_portal"), (None, 0, "iscsi_portal")])
def test_settings_tgtd_cannot_take_are_named(tmp_path, portal, control, words):
    for name in ("tgtd", "tgtadm"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    t = TgtTarget(portal, control, tgtd=str(tmp_path / "tgtd"), tgtadm=str(tmp_path / "tgtadm"))
    assert words in t.available()
    with pytest.raises(DriverError, match=words):
        t.ensure_running()
    ok = TgtTarget("[fd00::1]:3260", 32767, tgtd=str(tmp_path / "tgtd"), tgtadm=str(tmp_path / "tgtadm"))
    assert ok.available() is None
