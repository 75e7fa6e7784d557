"""The egret CLI: no default admin password, one `egret up` per state dir, status exit codes."""
import json
import os
import subprocess
import sys
from pathlib import Path

from appliance import supervisor
from appliance.testing.plugin import free_port, make_settings

REPO = Path(__file__).resolve().parents[3]


def _egret(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, **kw)


def _env(state, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGRET_")}
    env.update({"EGRET_STATE_DIR": str(state), "EGRET_CONFIG_DIR": str(state / "etc"),
                "EGRET_ENABLED_SERVICES": "identity", "EGRET_PORT_IDENTITY": str(free_port()),
                "EGRET_PASSWORD_HASH_LOG2N": "10"})
    env.update(extra)
    return env


def test_up_without_password_and_terminal_refuses(tmp_path):
    proc = _egret(["up"], _env(tmp_path / "st"))
    assert proc.returncode != 0
    assert "EGRET_ADMIN_PASSWORD" in proc.stderr and "no default password" in proc.stderr
    assert not (tmp_path / "st" / "clouds.yaml").exists()


def test_second_up_on_the_same_state_dir_is_refused(tmp_path):
    settings = make_settings(tmp_path / "st")
    held = supervisor.lock_state_dir(settings)
    try:
        proc = _egret(["up"], _env(tmp_path / "st", EGRET_ADMIN_PASSWORD="Another-pw-123"))
        assert proc.returncode != 0
        assert "already running" in proc.stderr
    finally:
        held.close()


def test_bootstrap_writes_a_private_clouds_yaml_and_status_reports_down(tmp_path):
    env = _env(tmp_path / "st", EGRET_ADMIN_PASSWORD="Boot-strap-pw-1")
    proc = _egret(["bootstrap"], env)
    assert proc.returncode == 0, proc.stderr
    clouds = tmp_path / "st" / "clouds.yaml"
    assert oct(clouds.stat().st_mode & 0o777) == "0o600"
    assert "Boot-strap-pw-1" in clouds.read_text()
    again = _egret(["bootstrap"], {**env, "EGRET_ADMIN_PASSWORD": "ignored-now"})
    assert "Already bootstrapped" in again.stdout
    assert "Boot-strap-pw-1" in clouds.read_text()      # the real password is kept
    status = _egret(["status"], env)
    assert status.returncode == 3 and "identity" in status.stdout


def test_bootstrap_check_and_undo_as_the_wizard_runs_them(tmp_path):
    env = _env(tmp_path / "st")
    assert _egret(["bootstrap", "--check"], env).returncode == 1
    made = _egret(["bootstrap", "--no-clouds-yaml"], {**env, "EGRET_ADMIN_PASSWORD": "Wizard-pw-123"})
    assert made.returncode == 0, made.stderr
    assert not (tmp_path / "st" / "clouds.yaml").exists()   # the wizard writes it once apply is done
    assert _egret(["bootstrap", "--check"], env).returncode == 0
    assert _egret(["bootstrap", "--undo"], env).returncode == 0
    assert not (tmp_path / "st" / "identity.db").exists()
    assert _egret(["bootstrap", "--check"], env).returncode == 1


def test_policy_list_prints_who_may_call_what_with_the_overrides(tmp_path):
    env = _env(tmp_path / "st")
    proc = _egret(["policy", "list", "--service", "identity", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    rows = {(r["method"], r["path"]): r for r in json.loads(proc.stdout)}
    create_user = rows[("POST", "/v3/users")]
    assert create_user["rule"] == "identity:create_user" and create_user["check"] == "rule:admin_required"
    assert rows[("GET", "/healthz")]["rule"] == "@public"
    assert not [r for r in rows.values() if r["service"] != "identity"]
    # an override in the settings' policy table changes the text the table shows (and nothing is left behind)
    (tmp_path / "st" / "etc").mkdir(parents=True, exist_ok=True)
    (tmp_path / "st" / "etc" / "policy.toml").write_text('[policy]\n"identity:create_user" = "role:admin and '
                                                         'project_id:%(project_id)s"\n')
    text = _egret(["policy", "list", "--service", "identity"], env)
    assert text.returncode == 0, text.stderr
    line, = [ln for ln in text.stdout.splitlines() if " POST " in ln and " /v3/users " in ln]
    assert "identity:create_user" in line and line.endswith("role:admin and project_id:%(project_id)s")
    assert not (tmp_path / "st" / "identity.db").exists()
    assert _egret(["policy", "list", "--service", "nosuch"], env).returncode == 2


def test_egret_loads_no_service_app_code():
    """The boot assessment runs `egret update health`: it must start, and name the failing unit, on a slot whose
    services' shared app code is broken (the A/B image test ships such an update), so `egret` never imports it."""
    probe = ("import sys; sys.modules['appliance.app'] = None; sys.argv = ['egret', '--help']\n"
             "import appliance.cli")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
