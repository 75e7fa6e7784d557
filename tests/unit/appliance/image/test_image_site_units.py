"""The node agents in the image: only on a box in a site, pulled in by the cluster unit, reading its node key."""
from __future__ import annotations

import grp
import os
import stat
import subprocess
from pathlib import Path

from appliance.image import health
from appliance.image import units as unitgen
from appliance.manifest import load_manifest
from appliance.testing.plugin import make_settings
from images.build import present_units

REPO = Path(__file__).resolve().parents[4]
AGENTS = ("egret-compute-agent.service", "egret-network-agent.service")


def test_the_agents_run_only_on_a_box_in_a_site_and_start_with_the_cluster_unit():
    gen = unitgen.generate(load_manifest())
    for name in AGENTS:
        unit = gen["units"][name]
        assert unit["Unit"]["ConditionFileNotEmpty"] == "/var/lib/egret/cluster/site.json"
        # and still behind the setup gate
        assert unit["Unit"]["ConditionPathExists"] == f"|{unitgen.SETUP_DONE}"
        assert unit["Install"]["WantedBy"] == "multi-user.target egret-cluster.service"
        assert "egret-site" in unit["Service"]["SupplementaryGroups"].split()
        assert unit["Service"]["ExecStartPre"] == unitgen.SITE_READ
    others = [n for n in gen["units"] if n not in AGENTS]
    assert others and not any("ConditionFileNotEmpty" in gen["units"][n]["Unit"] for n in others)
    assert not any("egret-site" in gen["units"][n]["Service"].get("SupplementaryGroups", "") for n in others)
    assert all(gen["units"][n]["Install"]["WantedBy"] == "multi-user.target" for n in others)
    assert gen["site_users"] == ["egret-compute", "egret-network"]
    users = unitgen.sysusers(gen).splitlines()
    assert "g egret-site -" in users and "m egret-compute egret-site" in users and "m egret-network egret-site" in users
    assert not any(line.startswith("m egret-identity egret-site") for line in users)


def test_the_image_carries_the_agents_but_not_a_federation_hub():
    keep, omitted = present_units(REPO / "services/manifest.toml", REPO)
    assert {"compute-agent", "network-agent"} <= set(keep)
    assert "federation" in omitted and "federation" not in keep


def test_a_member_runs_no_api_unit_and_its_health_check_expects_none():
    gen = unitgen.generate(load_manifest())
    api = {"egret-identity.service", "egret-compute.service", "egret-network.service", "egret-storage.service"}
    for name, unit in gen["units"].items():
        condition = unit["Unit"].get("ConditionDirectoryNotEmpty")
        assert condition == ("!/var/lib/egret/cluster/member" if name in api else None), name
    manifest = load_manifest()
    names = ["cluster", "compute", "firstboot", "identity", "network", "storage"]
    assert health.expected_units(names, manifest, done=True, site_units=["compute-agent"], member=True) == [
        "cluster", "firstboot", "compute-agent"]
    assert health.expected_units(names, manifest, done=True, site_units=["compute-agent"], member=False) == [
        *names, "compute-agent"]


def test_health_expects_the_agents_only_on_a_box_in_a_site(tmp_path):
    manifest = load_manifest()
    names = ["cluster", "compute", "firstboot"]
    assert health.expected_units(names, manifest, done=True, site_units=["compute-agent"]) == [*names,
                                                                                               "compute-agent"]
    assert health.expected_units(names, manifest, done=False, site_units=["compute-agent"]) == ["firstboot"]
    settings = make_settings(tmp_path / "state")
    assert not health.in_site(settings)
    (settings.state_dir / "cluster").mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "cluster" / "site.json").write_text("{}")
    assert health.in_site(settings)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_start_step_opens_what_the_agents_read_and_nothing_else(tmp_path):
    """SITE_READ run for real on a copy of the cluster unit's layout (our own group standing in for egret-site)."""
    cluster = tmp_path / "cluster"
    for d in ("ca", "member", "tls"):
        (cluster / d).mkdir(parents=True, mode=0o700)
    files = {"ca/ca.key": 0o600, "ca/ca.crt": 0o600, "member/ca.crt": 0o600, "member/node.key": 0o600,
             "tls/server.key": 0o600, "site.json": 0o660}
    for rel, mode in files.items():
        (cluster / rel).write_text("x")
        os.chmod(cluster / rel, mode)
    group = grp.getgrgid(os.getgid()).gr_name
    script = unitgen.SITE_READ.removeprefix("+").replace(unitgen.STATE_DIR, str(tmp_path)).replace(
        unitgen.SITE_GROUP, group)
    subprocess.run(["/bin/sh", "-c", script.split(" -c ", 1)[1].strip("'")], check=True)
    assert _mode(cluster / "ca") == 0o750 and _mode(cluster / "member") == 0o750
    assert _mode(cluster / "ca/ca.crt") == 0o640 and _mode(cluster / "member/ca.crt") == 0o640
    assert _mode(cluster / "tls/server.key") == 0o640
    # the CA's key and the member's own copy of the node key stay the cluster unit's alone
    assert _mode(cluster / "ca/ca.key") == 0o600 and _mode(cluster / "member/node.key") == 0o600
    assert _mode(cluster / "tls") == 0o700 and _mode(cluster / "site.json") == 0o660
    # a box without a cluster directory: nothing to do, no failure (the unit's condition keeps it off anyway)
    gone = script.replace(str(tmp_path), str(tmp_path / "none"))
    subprocess.run(["/bin/sh", "-c", gone.split(" -c ", 1)[1].strip("'")], check=True)
