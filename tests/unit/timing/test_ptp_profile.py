"""The PTP profile: every refusal names its field; ptp4l's configuration per profile and role; pmc's answers read."""
from __future__ import annotations

import pytest

from services.timing import profile
from services.timing.linuxptp import parse_pmc

# pmc's answer on this machine (linuxptp 3.1.1): an ordinary clock with software time stamps over a veth
PMC_ANSWER = """sending: GET CURRENT_DATA_SET
sending: GET PORT_DATA_SET
sending: GET TIME_STATUS_NP
\t1e83de.fffe.536525-0 seq 0 RESPONSE MANAGEMENT CURRENT_DATA_SET 
\t\tstepsRemoved     1
\t\toffsetFromMaster -988.0
\t\tmeanPathDelay    2250.0
\t1e83de.fffe.536525-1 seq 1 RESPONSE MANAGEMENT PORT_DATA_SET 
\t\tportIdentity            1e83de.fffe.536525-1
\t\tportState               UNCALIBRATED
\t\tlogMinDelayReqInterval  0
\t1e83de.fffe.536525-0 seq 2 RESPONSE MANAGEMENT TIME_STATUS_NP 
\t\tmaster_offset              -988
\t\tingress_time               0
\t\tgmPresent                  true
\t\tgmIdentity                 2a4a90.fffe.906787
"""


@pytest.mark.parametrize("body, words", [
    ({"profile": "ieee1588"}, "profile: 'ieee1588' is not one of"),
    ({"role": "slave"}, "role: 'slave' is not one of"),
    ({"interfaces": ["eth0; rm -rf /"]}, "interfaces.0: 'eth0; rm -rf /' does not match"),
    ({"interfaces": ["eth0", "eth0"]}, "interfaces: ['eth0', 'eth0'] has non-unique elements"),
    ({"domain": 256}, "domain: 256 is greater than the maximum"),
    ({"timestamping": "both"}, "timestamping"),
    ({"surprise": True}, "ptp: Additional properties are not allowed"),
    ({"enabled": True}, "interfaces: PTP needs at least one interface"),
    ({"enabled": True, "role": "boundary", "interfaces": ["eth0"]}, "interfaces: a boundary clock has two or more"),
    ({"enabled": True, "role": "ordinary", "interfaces": ["eth0", "eth1"]}, "interfaces: an ordinary clock has one"),
])
def test_refusals_name_the_field(body, words):
    with pytest.raises(profile.ProfileError) as exc:
        profile.normalize(body)
    assert words in str(exc.value), str(exc.value)


def test_changes_apply_over_the_current_profile():
    current = profile.normalize({"enabled": True, "interfaces": ["eth0"]})
    assert profile.normalize({"domain": 3}, current) == {**current, "domain": 3}
    assert profile.normalize({}) == profile.DEFAULT


def _options(text: str) -> dict:
    lines = text.splitlines()
    assert lines[0] == "[global]"
    return dict(line.split(" ", 1) for line in lines[1:])


def test_ptp4l_config_per_profile_and_role():
    gm = _options(profile.ptp4l_config(profile.normalize(
        {"enabled": True, "role": "grandmaster", "interfaces": ["eth0"], "timestamping": "software"}), "/run/x.sock"))
    assert gm == {"time_stamping": "software", "uds_address": "/run/x.sock", "domainNumber": "0", "masterOnly": "1",
                  "priority1": "10", "clockClass": "6"}
    telecom = _options(profile.ptp4l_config(profile.normalize(
        {"enabled": True, "profile": "g8275.1", "interfaces": ["eth0"], "steer_clock": False}), "/s"))
    assert telecom["domainNumber"] == "24" and telecom["network_transport"] == "L2"
    assert telecom["dataset_comparison"] == "G.8275.x" and telecom["slaveOnly"] == "1"
    assert telecom["free_running"] == "1" and telecom["time_stamping"] == "hardware"
    gptp = _options(profile.ptp4l_config(profile.normalize(
        {"enabled": True, "profile": "gptp", "role": "boundary", "interfaces": ["eth0", "eth1"], "domain": 7}), "/s"))
    assert gptp["delay_mechanism"] == "P2P" and gptp["transportSpecific"] == "0x1" and gptp["domainNumber"] == "7"
    assert gptp["boundary_clock_jbod"] == "1" and "masterOnly" not in gptp and "slaveOnly" not in gptp
    assert profile.needs_phc2sys(profile.normalize({"timestamping": "hardware"}))
    assert not profile.needs_phc2sys(profile.normalize({"timestamping": "software"}))
    assert not profile.needs_phc2sys(profile.normalize({"timestamping": "hardware", "steer_clock": False}))


def test_pmc_answer_is_read():
    assert parse_pmc(PMC_ANSWER) == {"offset_ns": -988.0, "mean_path_delay_ns": 2250.0, "steps_removed": 1,
                                     "port_states": {"1": "UNCALIBRATED"}, "gm_present": True,
                                     "gm_identity": "2a4a90.fffe.906787", "master_offset_ns": -988}
    assert parse_pmc("sending: GET CURRENT_DATA_SET\n") == {"port_states": {}}
