"""Settings precedence and typing: defaults < /etc/egret/*.toml < EGRET_* environment."""
import pytest

from appliance import config


def test_defaults(tmp_path):
    s = config.load(env={"EGRET_CONFIG_DIR": str(tmp_path)})
    assert s.port("identity") == 5000
    assert s.enabled_services == []
    assert s.database_for("identity") == f"sqlite:///{s.state_dir / 'identity.db'}"


def test_files_then_env_override(tmp_path):
    (tmp_path / "10-base.toml").write_text('region = "Edge1"\nworkers = 2\n[ports]\nidentity = 5555\n')
    (tmp_path / "20-more.toml").write_text('workers = 3\n[policy]\n"identity:list_users" = "role:admin"\n')
    env = {"EGRET_CONFIG_DIR": str(tmp_path), "EGRET_WORKERS": "4", "EGRET_PORT_COMPUTE": "18774",
           "EGRET_ENABLED_SERVICES": "identity, storage", "EGRET_FAKE_DRIVERS": "yes"}
    s = config.load(env=env)
    assert s.region == "Edge1"
    assert s.workers == 4                       # env beats both files
    assert s.port("identity") == 5555           # file beats default
    assert s.port("compute") == 18774           # env port
    assert s.port("network") == 9696            # untouched default survives the table merge
    assert s.enabled_services == ["identity", "storage"]
    assert s.fake_drivers is True
    assert s.policy == {"identity:list_users": "role:admin"}


def test_wrong_type_names_the_setting(tmp_path):
    with pytest.raises(config.ConfigError, match="workers"):
        config.load(env={"EGRET_CONFIG_DIR": str(tmp_path), "EGRET_WORKERS": "many"})
    (tmp_path / "x.toml").write_text("fake_drivers = 3\n")
    with pytest.raises(config.ConfigError, match="fake_drivers"):
        config.load(env={"EGRET_CONFIG_DIR": str(tmp_path)})


def test_unknown_setting_in_file_is_an_error(tmp_path):
    (tmp_path / "x.toml").write_text("no_such_thing = 1\n")
    with pytest.raises(config.ConfigError, match="no_such_thing"):
        config.load(env={"EGRET_CONFIG_DIR": str(tmp_path)})


def test_env_round_trip(tmp_path):
    s = config.load(env={"EGRET_CONFIG_DIR": str(tmp_path)}, workers=2, policy={"a": "role:x"},
                    enabled_services=["identity"], state_dir=tmp_path / "st")
    again = config.load(env=config.to_env(s))
    assert again == s
