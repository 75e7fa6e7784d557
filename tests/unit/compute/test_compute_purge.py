"""`egret compute purge` (a forced join): this box's servers' guests and instance files go, the rows stay."""
from __future__ import annotations

from pathlib import Path

from appliance import cli
from appliance.testing.plugin import make_settings
from services.compute import models, purge
from services.compute.drivers import base
from services.compute.models import Instance


def _rows():
    with models.database.connection_context():
        return sorted((i.id, i.deleted, i.vm_state, i.domain_name) for i in Instance.select())


def _spec(name: str) -> base.GuestSpec:
    return base.GuestSpec(name=name, uuid="00000000-0000-0000-0000-000000000001", vcpus=1, memory_mb=64)


def test_purge_destroys_the_servers_guests_and_files_and_leaves_the_rows(env):
    kept, gone = env.boot(name="kept"), env.boot(name="gone")
    assert env.api.delete(f"/v2.1/servers/{gone}").status_code == 204
    # a deleted server whose guest outlived its row's deletion (a node that was down), and two domains no server
    # of this box names: one with the box's prefix, one of another cloud on the same hypervisor
    env.driver.define(_spec(env.driver.prefix + gone))
    env.driver.define(_spec(env.driver.prefix + "stranger"))
    env.driver.define(_spec("other-" + kept))
    files = Path(env.driver.files.root)
    assert (files / kept).is_dir() and env.driver.power_state(env.driver.prefix + kept) == base.RUNNING
    # the image both servers booted is in the node's cache; another cloud's cached image is not this box's
    with models.database.connection_context():
        image = Instance.get_by_id(kept).image_ref
    assert env.driver.files.image_cached(image)
    stranger_image = "0b0e4a4e-0000-4000-8000-00000000beef"
    env.driver.files.cache_image(stranger_image, [b"another cloud's image"])
    rows = _rows()

    done = purge.purge(env.settings, env.driver)
    assert f"compute: destroyed and undefined domain {env.driver.prefix}{kept} (server {kept})" in done
    assert f"compute: destroyed and undefined domain {env.driver.prefix}{gone} (server {gone})" in done
    assert f"compute: deleted the instance files of server {kept}" in done
    assert f"compute: left domain {env.driver.prefix}stranger alone (no server of this box names it)" in done
    assert sorted(env.driver.domains) == [env.driver.prefix + "stranger", "other-" + kept]
    assert not (files / kept).exists() and not (files / gone).exists()
    assert f"compute: dropped image {image} from the node's image cache" in done
    assert not env.driver.files.image_cached(image) and env.driver.files.image_cached(stranger_image)
    assert _rows() == rows   # the purge only reads the database: the join drops it after

    again = purge.purge(env.settings, env.driver)
    assert not [line for line in again if "destroyed" in line or "deleted" in line], again
    assert sorted(env.driver.domains) == [env.driver.prefix + "stranger", "other-" + kept]


def test_the_command_on_an_empty_box_does_nothing_and_creates_no_database(tmp_path, capsys):
    box = make_settings(tmp_path / "box")   # real drivers: with no server, none is even loaded
    for _ in range(2):
        assert cli.main(["--state-dir", str(box.state_dir), "compute", "purge"]) == 0
        assert capsys.readouterr().out == "compute: no server, nothing to purge\n"
    assert not (box.state_dir / "compute.db").exists()
