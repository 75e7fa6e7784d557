"""Issue 11: compute binds, attaches and downloads with its service credentials, only for what the user may use."""
import pytest

from services.compute.external import ExternalError
from services.compute.models import Instance, database

PROJECT, OTHER = "p-test", "p-other"     # as conftest.py sets them up


def calls(env, client, method):
    return [c for c in env.auth.calls if c[:2] == (client, method)]


def server(env, sid, api=None):
    return (api or env.api).get(f"/v2.1/servers/{sid}").json["server"]


def assert_clean_fault(fault):
    """What a non-admin reads names no URL, no API path and no policy rule."""
    text = " ".join(str(v) for v in fault.values()).lower()
    for leak in ("http", "/v2.0/", "/v2/", "/v3/", "rule:"):
        assert leak not in text, (leak, fault)


def test_a_members_build_creates_the_port_as_the_member_and_binds_it_as_the_service(env):
    sid = env.boot()
    assert server(env, sid)["status"] == "ACTIVE"
    [port] = env.network.ports.values()
    assert port["project_id"] == PROJECT and port["binding:host_id"] == "fake-host"
    assert calls(env, "network", "create_port") == [("network", "create_port", port["id"], PROJECT)]
    assert calls(env, "network", "bind_port") == [("network", "bind_port", port["id"], "service")]
    assert calls(env, "image", "download") == [("image", "download", env.image_meta["id"], "service")]


def test_the_fake_network_refuses_binding_with_a_users_token_as_the_real_one_does(env):
    port = env.network.create_port({"network_id": env.net["id"]}, env.member_token)
    with pytest.raises(ExternalError) as err:
        env.network.update_port(port["id"], {"binding:host_id": "h"}, env.member_token)
    assert err.value.status == 403 and "binding:host_id" in str(err.value)
    with pytest.raises(ExternalError) as err:
        env.network.create_port({"network_id": env.net["id"], "binding:host_id": "h"}, env.member_token)
    assert err.value.status == 403
    assert port["binding:host_id"] == ""


def test_another_projects_port_is_refused_and_nothing_is_bound(env):
    theirs = env.network.create_port({"network_id": env.other_net["id"]}, env.other_token)
    resp = env.api.post("/v2.1/servers", json=env.server_body(networks=[{"port": theirs["id"]}]))
    assert resp.status_code == 400 and theirs["id"] in resp.json["badRequest"]["message"]
    assert env.count() == 0
    assert theirs["binding:host_id"] == "" and theirs["device_id"] == ""
    assert calls(env, "network", "bind_port") == []


def test_another_projects_network_is_refused(env):
    resp = env.api.post("/v2.1/servers", json=env.server_body(networks=[{"uuid": env.other_net["id"]}]))
    assert resp.status_code == 400 and env.other_net["id"] in resp.json["badRequest"]["message"]
    assert env.count() == 0 and env.network.ports == {}


def test_a_shared_network_of_another_project_may_be_used(env):
    shared = env.network.add_network("shared", OTHER, shared=True)
    sid = env.boot(networks=[{"uuid": shared["id"]}])
    assert server(env, sid)["status"] == "ACTIVE"
    [port] = env.network.ports.values()
    assert port["project_id"] == PROJECT and port["network_id"] == shared["id"]


def test_another_projects_private_image_is_refused(env):
    private = env.image.add_image(name="secret", visibility="private", owner=OTHER)
    resp = env.api.post("/v2.1/servers", json=env.server_body(imageRef=private["id"]))
    assert resp.status_code == 400 and private["id"] in resp.json["badRequest"]["message"]
    assert env.count() == 0 and calls(env, "image", "download") == []


def test_a_shared_image_may_be_used_by_a_member_project(env):
    shared = env.image.add_image(path=env.image.files[env.image_meta["id"]], name="shared",
                                 visibility="shared", owner=OTHER)
    env.image.members[shared["id"]] = {PROJECT}
    sid = env.boot(imageRef=shared["id"])
    assert server(env, sid)["status"] == "ACTIVE"


def test_an_image_naming_another_projects_private_kernel_fails_without_downloading_it(env):
    kernel = env.image.add_image(name="their-kernel", visibility="private", owner=OTHER)
    mine = env.image.add_image(path=env.image.files[env.image_meta["id"]], name="mine", visibility="private",
                               owner=PROJECT, kernel_id=kernel["id"])
    sid = env.boot(imageRef=mine["id"])
    body = server(env, sid)
    assert body["status"] == "ERROR"
    assert body["fault"]["message"].startswith(f"Image {kernel['id']} could not be used")
    assert_clean_fault(body["fault"])
    assert [c[2] for c in calls(env, "image", "download")] == [mine["id"]]
    assert env.network.ports == {}     # the failed build released its port


def test_another_projects_volume_is_refused_at_boot_and_at_attach(env, tmp_path):
    theirs = env.volume.add_volume(OTHER, path=str(tmp_path / "theirs.raw"))
    body = env.server_body(block_device_mapping_v2=[{"uuid": theirs["id"], "source_type": "volume",
                                                     "destination_type": "volume", "boot_index": 1}])
    resp = env.api.post("/v2.1/servers", json=body)
    assert resp.status_code == 400 and theirs["id"] in resp.json["badRequest"]["message"]
    sid = env.boot()
    resp = env.api.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": theirs["id"]}})
    assert resp.status_code == 404 and theirs["id"] in resp.json["itemNotFound"]["message"]
    assert theirs["status"] == "available" and env.volume.attachments == {}
    assert calls(env, "volume", "create_attachment") == []


def test_an_admin_cannot_attach_another_projects_volume_to_a_server(env, tmp_path):
    """The admin's token sees every volume; the server still uses only its own project's."""
    sid = env.boot()
    theirs = env.volume.add_volume(OTHER, path=str(tmp_path / "theirs.raw"))
    resp = env.admin.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                          json={"volumeAttachment": {"volumeId": theirs["id"]}})
    assert resp.status_code == 404 and env.volume.attachments == {}


def test_a_members_attach_and_detach_use_the_service_after_the_ownership_check(env, tmp_path):
    sid = env.boot()
    vol = env.volume.add_volume(PROJECT, path=str(tmp_path / "vol.raw"))
    resp = env.api.post(f"/v2.1/servers/{sid}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": vol["id"]}})
    assert resp.status_code == 200, resp.json
    assert calls(env, "volume", "create_attachment") == [("volume", "create_attachment", vol["id"], "service")]
    assert env.api.delete(f"/v2.1/servers/{sid}/os-volume_attachments/{vol['id']}").status_code == 202
    assert calls(env, "volume", "delete_attachment") == [("volume", "delete_attachment", vol["id"], "service")]
    assert vol["status"] == "available"


def test_another_projects_port_is_refused_at_interface_attach(env):
    sid = env.boot()
    theirs = env.network.create_port({"network_id": env.other_net["id"]}, env.other_token)
    resp = env.api.post(f"/v2.1/servers/{sid}/os-interface", json={"interfaceAttachment": {"port_id": theirs["id"]}})
    assert resp.status_code in (400, 404) and theirs["binding:host_id"] == ""
    assert len(calls(env, "network", "bind_port")) == 1     # the server's own port only


def test_a_reader_cannot_create_or_delete(env):
    sid = env.boot()
    resp = env.api.post("/v2.1/servers", json=env.server_body(), token=env.reader_token)
    assert resp.status_code == 403
    assert env.api.delete(f"/v2.1/servers/{sid}", token=env.reader_token).status_code == 403
    assert server(env, sid, env.api)["status"] == "ACTIVE" and env.count() == 1


def _deferred(env, monkeypatch):
    """Hold the build back, as a busy worker pool would, so the user's token can expire before it runs."""
    held = []
    monkeypatch.setattr(env.manager.tasks, "submit", lambda fn, *args: held.append((fn, args)))
    return held


def test_a_build_that_outlives_the_users_token_finishes_with_the_service_in_the_users_project(env, monkeypatch):
    held = _deferred(env, monkeypatch)
    sid = env.boot()
    del env.auth.tokens[env.member_token]          # the token expired: every service now answers 401
    for fn, args in held:
        fn(*args)
    assert server(env, sid, env.admin)["status"] == "ACTIVE"
    [port] = env.network.ports.values()
    assert port["project_id"] == PROJECT and port["device_id"] == sid
    assert [c[3] for c in env.auth.calls] == ["service"] * len(env.auth.calls)


def test_without_the_users_token_another_projects_port_is_still_refused(env, monkeypatch):
    mine = env.network.create_port({"network_id": env.net["id"]}, env.member_token)
    theirs = env.network.create_port({"network_id": env.other_net["id"]}, env.other_token)
    held = _deferred(env, monkeypatch)
    sid = env.boot(networks=[{"port": mine["id"]}])
    with database.connection_context():          # as if the request had named their port
        Instance.update(requested_networks=[{"port_id": theirs["id"], "network_id": env.other_net["id"]}]).where(
            Instance.id == sid).execute()
    del env.auth.tokens[env.member_token]
    for fn, args in held:
        fn(*args)
    body = server(env, sid, env.admin)
    assert body["status"] == "ERROR" and theirs["id"] in body["fault"]["message"]
    assert theirs["binding:host_id"] == "" and theirs["id"] in env.network.ports
    assert calls(env, "network", "bind_port") == []


def test_delete_after_the_users_token_expired_releases_everything(env, tmp_path):
    vol = env.volume.add_volume(PROJECT, path=str(tmp_path / "vol.raw"))
    sid = env.boot()
    env.api.post(f"/v2.1/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": vol["id"]}})
    del env.auth.tokens[env.member_token]
    assert env.api.delete(f"/v2.1/servers/{sid}").status_code == 204
    assert env.network.ports == {} and env.volume.attachments == {} and vol["status"] == "available"


def boot_failing(env, monkeypatch, fake, method, error):
    """Boot while `fake.method` raises error(*its args): the server's id and the clean fault its user reads."""
    def fail(*args, **kw):
        raise error(*args, **kw)
    monkeypatch.setattr(fake, method, fail)
    sid = env.boot()
    fault = server(env, sid)["fault"]
    assert_clean_fault(fault)
    return sid, fault


def test_a_service_failure_reads_cleanly_for_the_user_and_in_full_for_the_admin(env, monkeypatch):
    def refused(port_id, body, token=None):
        return ExternalError("(rule:update_port:binding:host_id) is disallowed by policy.", 403, "network",
                             f"http://127.0.0.1:9696/v2.0/ports/{port_id}: (rule:update_port:binding:host_id)")
    sid, fault = boot_failing(env, monkeypatch, env.network, "update_port", refused)
    assert fault["message"] == "Network service unavailable" and "details" not in fault
    admin_fault = server(env, sid, env.admin)["fault"]
    assert "/v2.0/ports/" in admin_fault["details"] and "rule:update_port" in admin_fault["details"]


def test_an_image_service_outage_reads_as_such(env, monkeypatch):
    def down(image_id, token=None):
        return ExternalError("Image service unavailable", 503, "image",
                             f"image GET /v2/images/{image_id}/file: connection refused")
    sid, fault = boot_failing(env, monkeypatch, env.image, "download_chunks", down)
    assert fault["message"] == "Image service unavailable"
    assert "connection refused" in server(env, sid, env.admin)["fault"]["details"]


def test_a_users_own_mistake_keeps_its_message(env):
    """A 4xx the user can fix (here a disk format compute cannot boot) shows its reason, details included."""
    iso = env.image.add_image(path=env.image.files[env.image_meta["id"]], name="iso", disk_format="iso",
                              visibility="private", owner=PROJECT)
    sid = env.boot(imageRef=iso["id"])
    fault = server(env, sid)["fault"]
    assert "disk_format iso" in fault["message"]
    assert_clean_fault(fault)
