"""The driver contract on the wire (services/compute/drivers/codec.py): methods read from base.py, values, errors."""
from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator

import pytest

from services.compute.drivers import base, codec, specs
from services.compute.drivers.remote import LOCAL, RemoteDriver


def _spec() -> base.GuestSpec:
    return base.GuestSpec(name="egret-a", uuid="u-1", vcpus=2, memory_mb=512,
                          disks=[base.DiskSpec(path="/n/disk", target="vda"),
                                 base.DiskSpec(path="/n/cd", target="sda", device="cdrom", serial=None)],
                          vifs=[base.VifSpec(bridge="br0", tap="tap0", mac="fa:16:3e:00:00:01")],
                          extra_specs={"hw:cpu_policy": "dedicated"}, metadata={"$type": "a user's key"})


def _wire(value):
    return json.loads(json.dumps(codec.encode(value)))


def test_contract_values_survive_the_wire():
    spec = _spec()
    assert codec.decode(_wire(spec)) == spec
    caps = base.HostCaps(cpus=8, hugepages={2048: 16, 1048576: 1}, dedicated_cpus=[2, 3])
    back = codec.decode(_wire(caps))
    assert back == caps and list(back.hugepages) == [2048, 1048576]   # int keys stay ints
    files = {"openstack/latest/user_data": b"\0\1\xff", "meta.json": "{}"}
    assert codec.decode(_wire(files)) == files
    assert codec.decode(_wire(("a", 1))) == ["a", 1]
    assert codec.decode(_wire({"$type": "bytes"})) == {"$type": "bytes"}   # a plain dict that looks like a tag


def test_a_network_disk_crosses_with_its_chap_password_and_never_shows_it():
    """A volume over iSCSI: the node's driver needs the password for its libvirt secret (the site's mTLS carries
    it); a repr (logs, faults) never has it."""
    disk = base.DiskSpec(path="iqn.2026-12.dev.egret:attachment-1/1", target="vdb", source_type="network",
                         protocol="iscsi", portal="alpha:3260", initiator="iqn.2026-12.dev.egret:beta",
                         auth_username="u-1", auth_password="s3cret-chap", serial="vol-1")
    spec = base.GuestSpec(name="egret-a", uuid="u-1", vcpus=1, memory_mb=64, disks=[disk])
    back = codec.decode(_wire(spec))
    assert back == spec and back.disks[0].auth_password == "s3cret-chap"
    assert "s3cret-chap" not in repr(spec) and "s3cret-chap" not in repr(back.disks[0])
    doc = _wire(disk)
    doc["fields"]["auth_password"] = 7
    with pytest.raises(codec.CodecError, match="auth_password: expected str"):
        codec.decode(doc)


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["fields"].update(colour="red"), "value.colour: GuestSpec has no field 'colour'"),
    (lambda d: d["fields"]["disks"][0]["fields"].update(colour=1), "value.disks[0].colour: DiskSpec has no field"),
    (lambda d: d["fields"].update(vcpus="2"), "value.vcpus: expected int, got str"),
    (lambda d: d["fields"].update(vcpus=True), "value.vcpus: expected int, got bool"),
    (lambda d: d["fields"]["disks"][0]["fields"].update(readonly="yes"), "value.disks[0].readonly: expected bool"),
    (lambda d: d["fields"].pop("uuid"), "value.uuid: a required field of GuestSpec is missing"),
    (lambda d: d.update({"$type": "Popen"}), "value: unknown type 'Popen'"),
    (lambda d: d.update(fields=[1]), "value: a GuestSpec needs its fields as an object"),
    (lambda d: d["fields"].update(metadata={"$type": "bytes", "base64": "%%%"}), "value.metadata: invalid base64"),
])
def test_malformed_values_are_refused_naming_the_field(mutate, needle):
    doc = _wire(_spec())
    mutate(doc)
    with pytest.raises(codec.CodecError, match=needle.replace("[", r"\[").replace("]", r"\]").replace("$", r"\$")):
        codec.decode(doc)


def test_a_deeply_nested_value_is_refused():
    doc = []
    for _ in range(40):
        doc = [doc]
    with pytest.raises(codec.CodecError, match="nested too deeply"):
        codec.decode(doc)


def test_arguments_are_checked_against_the_methods_signature():
    spawn, power_off = codec.METHODS["spawn"], codec.METHODS["power_off"]
    assert codec.decode_args(spawn, {"spec": _wire(_spec())}) == {"spec": _spec()}
    assert codec.decode_args(power_off, {"name": "x", "timeout": 5}) == {"name": "x", "timeout": 5}
    with pytest.raises(codec.CodecError, match="^colour: spawn has no argument 'colour'"):
        codec.decode_args(spawn, {"spec": _wire(_spec()), "colour": 1})
    with pytest.raises(codec.CodecError, match="^spec: a required argument of spawn is missing"):
        codec.decode_args(spawn, {})
    with pytest.raises(codec.CodecError, match="^spec: expected GuestSpec, got dict"):
        codec.decode_args(spawn, {"spec": {"name": "x"}})
    with pytest.raises(codec.CodecError, match="^name: expected str, got int"):
        codec.decode_args(power_off, {"name": 1})
    with pytest.raises(codec.CodecError, match="^arguments: expected an object"):
        codec.decode_args(power_off, ["x"])


def test_positional_and_keyword_calls_encode_the_same_and_leave_defaults_to_the_node():
    reboot = codec.METHODS["reboot"]
    assert codec.encode_args(reboot, ("n", True), {}) == codec.encode_args(reboot, (), {"name": "n", "hard": True}) \
        == {"name": "n", "hard": True}
    with pytest.raises(TypeError):
        codec.encode_args(reboot, (), {"nom": "n"})


def test_the_method_table_is_read_from_the_contract():
    public = {n for n, f in inspect.getmembers(base.ComputeDriver, inspect.isfunction) if not n.startswith("_")}
    assert set(codec.METHODS) == public and {"spawn", "host_caps", "xml"} <= public
    for name in ("__init__", "_dom", "prefix", "files", "from_settings", "", None, 3):
        assert codec.method(name) is None

    class Contract:
        prefix = "x"

        def upload(self, key: str, chunks: Iterable[bytes], size: int = 0) -> None: ...

        def download(self, key: str) -> Iterator[bytes]: ...

        def names(self) -> list[str]: ...

        def _hidden(self): ...

    methods = codec.contract_methods(Contract)
    assert set(methods) == {"upload", "download", "names"}
    assert methods["upload"].streams_in and not methods["upload"].streams_out
    assert methods["download"].streams_out and not methods["names"].streams_out
    assert codec.encode_args(methods["upload"], ("k", [b"x"]), {}) == {"key": "k"}   # the stream is the body


def test_the_remote_driver_carries_every_contract_method():
    for name in codec.METHODS:
        own = RemoteDriver.__dict__.get(name)
        assert own is not None, name                      # none falls through to base's local implementation
        if name not in LOCAL:
            assert inspect.signature(own) == inspect.signature(getattr(base.ComputeDriver, name))


class LibvirtFlavoured(specs.NotFound):
    """A driver's own subclass travels as the contract class it is."""


@pytest.mark.parametrize("exc", [specs.DriverError("a"), specs.NotFound("b"), specs.UnsafeDisk("c"),
                                 specs.UnsupportedSpec("d"), specs.HostLacks("e"), LibvirtFlavoured("f")])
def test_contract_errors_arrive_as_the_same_class_and_message(exc):
    back = codec.decode_error(json.loads(json.dumps(codec.encode_error(exc))))
    expected = specs.NotFound if isinstance(exc, LibvirtFlavoured) else type(exc)
    assert type(back) is expected and str(back) == str(exc)
    assert type(codec.decode_error({"type": "SystemExit", "message": "x"})) is specs.DriverError
