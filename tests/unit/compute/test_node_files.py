"""Issue 14: the node's files are its driver's. The builder fetches an image into the node's cache once, verified by
the image service's checksum; resize, snapshot, console and delete reach the server's files only through the driver."""
import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from services.compute.drivers.nodefiles import NodeFiles
from services.compute.models import Instance, database


def act(env, sid, body):
    return env.api.post(f"/v2.1/servers/{sid}/action", json=body)


def server(env, sid, api=None):
    return (api or env.api).get(f"/v2.1/servers/{sid}").json["server"]


def downloads(env, image_id):
    return [c for c in env.auth.calls if c[:3] == ("image", "download", image_id)]


def root_disk(env, sid) -> str:
    """The root disk's path as the driver gave it to the domain (the manager never builds it)."""
    tree = ET.fromstring(env.driver.xml("egunit-" + sid))
    [disk] = [d for d in tree.findall("./devices/disk") if d.find("target").get("dev") == "vda"]
    return disk.find("source").get("file")


def qemu_info(path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)


def test_an_image_is_fetched_into_the_nodes_cache_once_and_verified(env):
    image_id = env.image_meta["id"]
    first, second = env.boot(), env.boot(name="vm2")
    assert server(env, first)["status"] == server(env, second)["status"] == "ACTIVE"
    assert len(downloads(env, image_id)) == 1                     # the second build found it cached
    assert env.driver.image_cached(image_id)
    assert qemu_info(root_disk(env, first))["backing-filename"] == env.driver.cached_image_path(image_id)
    with database.connection_context():
        # what the database keeps is the node's business no more: no path of any node
        assert not any(k.endswith("_path") for k in Instance.get_by_id(first).image)


def test_an_image_whose_data_is_not_what_the_image_service_recorded_is_refused(env):
    tampered = env.image.add_image(path=env.image.files[env.image_meta["id"]], name="tampered",
                                   os_hash_value="ab" * 64)
    sid = env.boot(imageRef=tampered["id"])
    body = server(env, sid)
    assert body["status"] == "ERROR"
    assert tampered["id"] in body["fault"]["message"] and "sha512" in body["fault"]["message"]
    assert not env.driver.image_cached(tampered["id"])            # nothing of it stays on the node
    legacy = env.image.add_image(path=env.image.files[env.image_meta["id"]], name="legacy",
                                 os_hash_algo=None, os_hash_value=None, checksum="0" * 32)
    assert server(env, env.boot(imageRef=legacy["id"]))["status"] == "ERROR"   # md5 `checksum` checked too
    assert not env.driver.image_cached(legacy["id"])


def test_resize_to_a_bigger_disk_grows_the_root_disk_on_the_node(env):
    sid = env.boot()                                              # m1.nano: the image's own 64 MiB
    assert qemu_info(root_disk(env, sid))["virtual-size"] == 64 << 20
    assert act(env, sid, {"resize": {"flavorRef": "1"}}).status_code == 202     # m1.tiny: 1 GiB
    assert server(env, sid)["status"] == "VERIFY_RESIZE"
    assert qemu_info(root_disk(env, sid))["virtual-size"] == 1 << 30


def test_a_snapshot_uploads_a_standalone_copy_and_leaves_no_file(env, tmp_path):
    sid = env.boot()
    disk = root_disk(env, sid)
    before = sorted(p.name for p in Path(disk).parent.iterdir())
    resp = act(env, sid, {"createImage": {"name": "snap"}})
    assert resp.status_code == 202
    out = tmp_path / "snap.qcow2"
    out.write_bytes(env.image.blobs[resp.json["image_id"]])
    info = qemu_info(out)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert sorted(p.name for p in Path(disk).parent.iterdir()) == before
    assert server(env, sid)["status"] == "ACTIVE"


def test_delete_removes_the_servers_files_and_keeps_the_cache(env):
    sid = env.boot()
    disk = root_disk(env, sid)
    assert env.api.delete(f"/v2.1/servers/{sid}").status_code == 204
    assert not Path(disk).exists()
    assert env.driver.image_cached(env.image_meta["id"])


def test_the_console_log_is_made_readable_by_the_service_before_the_hypervisor_writes_it(tmp_path):
    """virtlogd (root) appends to a console log that exists and keeps its owner; a missing one it makes root's
    0600, which the compute service (its own user) could not read: the driver makes the file first."""
    files = NodeFiles(tmp_path / "instances")
    path = Path(files.console_path("server-1"))
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o640
    path.write_text("boot 1\n")
    assert files.console_path("server-1") == str(path) and path.read_text() == "boot 1\n"   # never truncated


def test_a_console_log_rotated_by_virtlogd_is_read_from_the_newest_readable_file():
    """After rotation console.log is root's 0600 again and console.log.0 is the file the driver made: a reader
    that is not root (the compute service) gets the rotated file's text, not an error."""
    files = NodeFiles()   # a temporary root that others may traverse, as the node's instances dir
    live = Path(files.console_path("server-1"))
    live.rename(live.with_name("console.log.0"))
    live.with_name("console.log.0").write_text("before the rotation\n")
    os.chown(live.with_name("console.log.0"), 65534, 65534)    # the service's: nobody here
    live.write_text("root's new file\n")
    live.chmod(0o600)
    read = ("from services.compute.drivers.nodefiles import NodeFiles; import sys; "
            f"sys.stdout.write(NodeFiles({str(files.root)!r}).console_log('server-1'))")
    out = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True, user=65534,
                         cwd=str(Path(__file__).resolve().parents[3]))
    assert out.stdout == "before the rotation\n"
