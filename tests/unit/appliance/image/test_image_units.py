"""The manifest → systemd unit generators: Python (Debian image) and Nix (NixOS modules) give the same units."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.image import health
from appliance.image import units as unitgen
from appliance.manifest import MANIFEST_PATH, load_manifest
from appliance.testing.plugin import make_settings
from firstboot.backends import SystemdServices
from firstboot.state import WizardState

REPO = Path(__file__).resolve().parents[4]
FIXTURE = Path(__file__).parent / "fixtures" / "manifest.toml"
NIX_ENV = {**os.environ, "NIX_CONFIG": "experimental-features = nix-command flakes\nsubstituters =\n"}
needs_nix = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                               reason="nix-instantiate (Debian nix-bin) is not installed")


def nix_units(manifest: Path, egret_bin: str = "/opt/egret/bin/egret") -> dict:
    expr = (f'import {REPO}/nix/lib/units.nix {{ manifest = builtins.fromTOML (builtins.readFile {manifest}); '
            f'egretBin = "{egret_bin}"; }}')
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr], env=NIX_ENV,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@needs_nix
@pytest.mark.parametrize("manifest", [MANIFEST_PATH, FIXTURE], ids=["live-manifest", "fixture"])
def test_nix_and_python_generate_identical_units(manifest):
    python = unitgen.generate(load_manifest(manifest), egret_bin="/nix/store/x-egret/bin/egret")
    nix = nix_units(manifest, "/nix/store/x-egret/bin/egret")
    assert python["units"], "the manifest has no units"
    assert nix == python


@needs_nix
def test_nix_comparison_detects_a_difference(tmp_path):
    """The comparison can fail: a changed manifest field changes both sides, a Nix-only edit would not."""
    changed = tmp_path / "m.toml"
    changed.write_text(FIXTURE.read_text().replace('description = "Identity"', 'description = "Other"'))
    assert nix_units(changed) != unitgen.generate(load_manifest(FIXTURE))
    assert nix_units(changed) == unitgen.generate(load_manifest(changed))


def test_fixture_units_are_hardened_and_minimal():
    gen = unitgen.generate(load_manifest(FIXTURE))
    units = gen["units"]
    assert set(units) == {"egret-identity.service", "egret-network.service", "egret-compute.service",
                          "egret-storage.service"}
    ident = units["egret-identity.service"]["Service"]
    assert ident["User"] == "egret-identity" and ident["Group"] == "egret"
    assert ident["CapabilityBoundingSet"] == "" and "AmbientCapabilities" not in ident
    assert ident["ProtectSystem"] == "strict" and ident["NoNewPrivileges"] == "yes"
    assert ident["StateDirectory"] == "egret/identity"
    assert ident["ExecStart"] == "/opt/egret/bin/egret serve identity"
    assert ident["PrivateDevices"] == "yes" and ident["ProtectKernelTunables"] == "yes"
    net = units["egret-network.service"]
    assert "User" not in net["Service"]  # runs as root, but only with the capabilities it lists
    assert net["Service"]["CapabilityBoundingSet"] == "CAP_NET_ADMIN CAP_NET_RAW"
    assert net["Service"]["AmbientCapabilities"] == "CAP_NET_ADMIN CAP_NET_RAW"
    assert "ProtectKernelTunables" not in net["Service"]  # sysctls such as ip_forward
    assert net["Unit"]["Requires"] == "egret-state.service egret-identity.service"
    comp = units["egret-compute.service"]
    # dependencies outside the manifest are dropped rather than producing a unit that can never start
    # ...and a founder's database server (appliance/image/postgres.py) comes first when it runs
    assert comp["Unit"]["After"] == ("network-online.target egret-state.service egret-identity.service "
                                     "egret-network.service egret-postgresql.service")
    assert comp["Service"]["SupplementaryGroups"] == "libvirt kvm"
    assert comp["Service"]["StateDirectory"] == "egret/compute"  # state_dir defaults to the unit name
    stor = units["egret-storage.service"]["Service"]
    assert stor["DeviceAllow"] == "/dev/mapper/control rw block-device-mapper rw"
    assert "PrivateDevices" not in stor and "RestrictNamespaces" not in stor
    # the directory its tgtd keeps its control socket in (/run is read-only under ProtectSystem=strict)
    assert stor["RuntimeDirectory"] == "tgtd" and stor["RuntimeDirectoryMode"] == "0750"
    assert "RuntimeDirectory" not in ident and "RuntimeDirectoryMode" not in ident
    assert gen["users"] == ["egret-compute", "egret-identity", "egret-storage"]


def test_live_manifest_every_unit_renders():
    gen = unitgen.generate(load_manifest())
    for name, sections in gen["units"].items():
        text = unitgen.render(sections)
        assert "[Service]" in text and f"serve {name[len('egret-'):-len('.service')]}" in text
        assert "ProtectSystem=strict" in text


def test_live_storage_unit_owns_tgtds_runtime_directory():
    """Storage starts tgtd (its iSCSI target) as its own user: /run/tgtd is the unit's, and KillMode=mixed stops
    tgtd (which ignores SIGTERM) with SIGKILL once the service has exited, not after the 90 s stop timeout."""
    units = unitgen.generate(load_manifest())["units"]
    stor = units["egret-storage.service"]["Service"]
    assert stor["RuntimeDirectory"] == "tgtd" and stor["RuntimeDirectoryMode"] == "0750"
    assert stor["User"] == "egret-storage" and stor["KillMode"] == "mixed"
    assert "RuntimeDirectory=tgtd\n" in unitgen.render(units["egret-storage.service"])
    assert [n for n, u in units.items() if "RuntimeDirectory" in u["Service"]] == ["egret-storage.service"]


def test_render_and_sysusers():
    gen = unitgen.generate(load_manifest(FIXTURE))
    text = unitgen.render(gen["units"]["egret-network.service"])
    assert 'Description=Network "quoted" service' in text
    assert text.index("[Unit]") < text.index("[Service]") < text.index("[Install]")
    users = unitgen.sysusers(gen)
    assert "g egret -" in users and "m egret-storage egret" in users and "root" not in users


def test_sysusers_puts_users_in_their_units_supplementary_groups():
    # libvirtd's polkit rule checks the user's groups in the user database; SupplementaryGroups= alone is refused
    gen = unitgen.generate(load_manifest())
    users = unitgen.sysusers(gen).splitlines()
    assert "m egret-compute libvirt" in users and "m egret-compute kvm" in users
    assert not any(line.startswith("m root ") for line in users)


@needs_nix
def test_every_nix_file_parses():
    files = sorted(p for p in REPO.rglob("*.nix") if ".venv" not in p.parts and "artifacts" not in p.parts)
    assert (REPO / "flake.nix") in files and len(files) >= 5
    for path in files:
        r = subprocess.run(["nix-instantiate", "--parse", str(path)], env=NIX_ENV, capture_output=True, text=True)
        assert r.returncode == 0, f"{path}: {r.stderr}"


def test_live_manifest_gates_every_unit_but_the_wizard_until_setup_is_done():
    gen = unitgen.generate(load_manifest())["units"]
    wizard = gen["egret-firstboot.service"]
    assert not any(k.startswith("Condition") for k in wizard["Unit"])
    # port 80 without root's full capability set; it opens the gate under /run for the apply
    assert "CAP_NET_BIND_SERVICE" in wizard["Service"]["CapabilityBoundingSet"].split()
    # and writes the box's /etc and host name (configures_system), which no other unit may
    assert wizard["Service"]["ReadWritePaths"] == f"{unitgen.STATE_DIR} -{unitgen.RUN_DIR} /etc"
    assert "ProtectHostname" not in wizard["Service"]
    assert all(gen[n]["Service"]["ProtectHostname"] == "yes" and "/etc" not in gen[n]["Service"]["ReadWritePaths"]
               for n in gen if n != "egret-firstboot.service")
    gated = [n for n in gen if n != "egret-firstboot.service"]
    assert gated, "no unit besides the wizard"
    for name in gated:
        head = gen[name]["Unit"]
        assert head["ConditionPathExists"] == "|/var/lib/egret/firstboot/setup-done", name
        assert head["ConditionPathIsDirectory"] == "|/run/egret/setup-applying", name
        assert gen[name]["Service"]["ReadWritePaths"] == unitgen.STATE_DIR
    text = unitgen.render(gen[gated[0]])
    assert "ConditionPathExists=|/var/lib/egret/firstboot/setup-done\n" in text
    assert f"d {unitgen.RUN_DIR} 0755 root root -" in unitgen.tmpfiles()


def test_setup_gate_paths_match_the_wizard(tmp_path):
    """The marker the units check is the one the wizard writes; the gate is the one its systemd backend opens."""
    state = WizardState(make_settings(tmp_path / "state"))
    assert str(state.done_marker.relative_to(tmp_path / "state")) == \
        str(Path(unitgen.SETUP_DONE).relative_to(unitgen.STATE_DIR))
    assert SystemdServices().gate == Path(unitgen.SETUP_GATE)


def test_health_expects_the_wizard_before_setup_and_every_unit_after(tmp_path):
    manifest = load_manifest()
    names = sorted(manifest)
    assert health.expected_units(names, manifest, done=False) == ["firstboot"]
    assert health.expected_units(names, manifest, done=True) == names
    settings = make_settings(tmp_path / "state")
    assert not health.setup_done(settings)
    WizardState(settings).mark_done()
    assert health.setup_done(settings)
