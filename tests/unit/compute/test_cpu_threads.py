"""hw:cpu_thread_policy: pinned CPUs picked core by core from the node's SMT threads, in the guest plan, in claims
on SMT and single-thread nodes, resizes in place holding both flavors' cores, and the threads read from libvirt's host capabilities."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from moves_support import row
from scheduler_support import caps, nodes, server

from services.compute import models, scheduler
from services.compute.drivers import cputhreads, hardware
from services.compute.drivers.libvirt import host as libvirt_host
from services.compute.drivers.fake import FakeDriver
from services.compute.drivers.specs import DriverError, HostLacks
from services.compute.models import Allocation
from services.compute.scheduler.claims import NoValidHost, claim, release

# four cores of two threads, as Linux numbers them: CPU n and n + 4 share a core
SMT = [[0, 4], [1, 5], [2, 6], [3, 7]]


def test_thread_policies_pick_cores():
    assert cputhreads.cores([1, 2, 5, 6, 7], SMT) == [[1, 5], [2, 6], [7]]   # 3's thread is not dedicated
    assert cputhreads.pick("isolate", 2, range(8), SMT, range(8)) == [0, 1, 4, 5]
    assert cputhreads.pick("isolate", 1, range(8), SMT, [1, 2, 6]) == [2, 6]   # core 1 has a thread in use
    assert cputhreads.pick("require", 3, range(8), SMT, [0, 1, 4, 5, 7]) == [0, 4, 1]
    assert cputhreads.pick("prefer", 3, range(8), SMT, [0, 1, 4, 7]) == [0, 4, 1]
    with pytest.raises(HostLacks, match="isolate needs 3 dedicated cores with every thread free; the node has 2"):
        cputhreads.pick("isolate", 3, range(8), SMT, [0, 1, 4, 5, 6])
    with pytest.raises(HostLacks, match="require needs a node with SMT"):
        cputhreads.pick("require", 1, range(8), [], range(8))
    # one thread per core: isolate is any free CPU, each its own core
    assert cputhreads.pick("isolate", 2, [2, 3], [], [2, 3]) == [2, 3]


def test_thread_policy_in_the_guest_plan():
    host = caps("h", dedicated=range(8), siblings=SMT)
    isolate = {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}
    assert hardware.plan(isolate, 2, 512, host)["pins"] == {0: 0, 1: 1}
    # the claim's CPUs: the pinned ones first, then the idle siblings it holds
    assert hardware.plan(isolate, 2, 512, host, [2, 3, 6, 7])["pins"] == {0: 2, 1: 3}
    with pytest.raises(HostLacks, match="needs a node with SMT"):
        hardware.plan({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"}, 2, 512,
                      caps("h", dedicated=range(8)))
    with pytest.raises(DriverError, match="requires hw:cpu_policy=dedicated"):
        hardware.plan({"hw:cpu_thread_policy": "require"}, 1, 512, host)


def test_isolated_threads_keep_their_siblings_idle(db):
    nodes(1, dedicated=range(8), siblings=SMT)
    isolate = {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}}
    first = claim(server(isolate), {})
    assert first.cpus == [0, 1, 4, 5]
    second = claim(server(isolate), {})
    assert second.cpus == [2, 3, 6, 7]
    # every core is taken, by two servers of two vCPUs: nothing pinned fits now, whatever its policy
    for policy in ("isolate", "require", "prefer"):
        one = {"vcpus": 1, "extra_specs": {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": policy}}
        with pytest.raises(NoValidHost, match="NUMATopologyFilter"):
            claim(server(one), {})
    release(first.instance_id)
    require = {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"}}
    assert claim(server(require), {}).cpus == [0, 4]          # sibling threads of one core


def test_require_goes_to_a_node_with_smt(db):
    scheduler.register("flat", caps("flat", dedicated=range(8)), {})
    scheduler.register("smt", caps("smt", dedicated=range(8), siblings=SMT), {})
    require = {"vcpus": 2, "extra_specs": {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"}}
    assert {claim(server(require), {}).host for _ in range(4)} == {"smt"}
    with pytest.raises(NoValidHost, match="NUMATopologyFilter"):
        claim(server(require), {})


def _flavor(fid: str, vcpus: int, policy: str) -> dict:
    return {"id": fid, "vcpus": vcpus, "ram": 512, "disk": 1,
            "extra_specs": {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": policy}}


def _resized(inst, new: dict) -> None:
    """What the compute manager does around scheduler.resize: the server runs the new flavor until settled."""
    scheduler.resize(inst, new)
    inst.old_flavor, inst.flavor = inst.flavor, new
    inst.save()


def _held(inst) -> list[int]:
    return Allocation.get(Allocation.instance_id == inst.id).cpus


def test_an_isolated_server_resized_in_place_holds_both_flavors_cores_until_confirmed(db):
    nodes(1, dedicated=range(8), siblings=SMT)
    small, big = _flavor("f1", 1, "isolate"), _flavor("f2", 2, "isolate")
    inst = server(small)
    assert claim(inst, {}).cpus == [0, 4]
    other = claim(server(_flavor("f1", 1, "isolate")), {})
    assert other.cpus == [1, 5]
    _resized(inst, big)
    # the new flavor's whole cores (its own core, and core 2 as core 1 is the other server's) come first: the
    # guest runs on them; the old flavor's stay held for a revert
    assert _held(inst) == [0, 2, 4, 6]
    assert scheduler.held(inst.id)["cpuset"][:2] == [0, 2]
    # nothing else gets a thread of them meanwhile: one whole core is left (3, 7)
    assert claim(server(_flavor("f1", 1, "isolate")), {}).cpus == [3, 7]
    with pytest.raises(NoValidHost, match="NUMATopologyFilter"):
        claim(server(_flavor("f1", 1, "isolate")), {})
    scheduler.settle(inst, inst.flavor)                        # confirmed
    assert _held(inst) == [0, 2, 4, 6]
    assert Allocation.get(Allocation.instance_id == inst.id).resize_cpus is None


def test_a_reverted_resize_in_place_gives_back_the_cpus_the_server_had(db):
    nodes(1, dedicated=range(8), siblings=SMT)
    three, one = _flavor("f3", 3, "require"), _flavor("f1", 1, "require")
    inst = server(three)
    assert claim(inst, {}).cpus == [0, 4, 1]                   # sibling pairs: core 0, then a thread of core 1
    _resized(inst, one)
    assert _held(inst) == [0, 4, 1]                            # the new flavor's CPU first, the old ones held
    # the revert asks for the old flavor again (the manager redefines the guest), then settles on it
    scheduler.resize(inst, inst.old_flavor)
    assert scheduler.held(inst.id)["cpuset"] == [0, 4, 1]
    inst.flavor, inst.old_flavor = inst.old_flavor, None
    inst.save()
    scheduler.settle(inst, inst.flavor)
    assert _held(inst) == [0, 4, 1]
    # a confirmed shrink keeps the new flavor's CPU alone
    _resized(inst, one)
    scheduler.settle(inst, one)
    assert _held(inst) == [0]


def test_a_resize_in_place_with_no_whole_core_free_changes_nothing(db):
    nodes(1, dedicated=range(8), siblings=SMT)
    inst = server(_flavor("f1", 1, "isolate"))
    held = claim(inst, {}).cpus
    for _ in range(3):
        claim(server(_flavor("f1", 1, "isolate")), {})
    with pytest.raises(NoValidHost, match="not enough room on the server's node"):
        scheduler.resize(inst, _flavor("f2", 2, "isolate"))
    row = Allocation.get(Allocation.instance_id == inst.id)
    assert row.cpus == held == [0, 4] and row.resize_cpus is None


CAPABILITIES = """<capabilities><host><topology><cells num='1'><cell id='0'><cpus num='4'>
<cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,2'/><cpu id='1' socket_id='0' die_id='0' core_id='1' siblings='1,3'/>
<cpu id='2' socket_id='0' die_id='0' core_id='0' siblings='0,2'/><cpu id='3' socket_id='0' die_id='0' core_id='1' siblings='1,3'/>
</cpus></cell></cells></topology></host></capabilities>"""


def test_libvirt_capabilities_give_the_smt_cores():
    assert libvirt_host.thread_siblings(CAPABILITIES) == [[0, 2], [1, 3]]
    single = CAPABILITIES.replace("siblings='0,2'", "siblings='0'").replace("siblings='1,3'", "siblings='1-1'")
    assert libvirt_host.thread_siblings(single) == []


def _pins(driver, inst) -> dict:
    tree = ET.fromstring(driver.xml(inst.domain_name))
    return {int(p.get("vcpu")): int(p.get("cpuset")) for p in tree.iterfind("cputune/vcpupin")}


def test_an_isolated_server_is_resized_in_place_and_reverted_through_the_api(env):
    """The guest is pinned to the new flavor's cores while the resize waits, and to its old ones after a revert."""
    smt = FakeDriver(prefix="egunit-", caps=caps("smt", dedicated=range(4), cpus=4, siblings=[[0, 2], [1, 3]]))
    with models.database.connection_context():
        env.manager.node.register_driver("smt", smt)
        scheduler.register("smt", smt.caps, {})
    for fid, vcpus in (("iso1", 1), ("iso2", 2)):
        env.admin.post("/v2.1/flavors", json={"flavor": {"name": fid, "ram": 256, "vcpus": vcpus, "disk": 1,
                                                          "id": fid}})
        env.admin.post(f"/v2.1/flavors/{fid}/os-extra_specs", json={"extra_specs": {
            "hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}})
    resp = env.admin.post("/v2.1/servers", json=env.server_body(flavorRef="iso1", availability_zone="nova:smt"))
    assert resp.status_code == 202, resp.json
    sid = resp.json["server"]["id"]
    inst = row(sid)
    assert inst.host == "smt" and _pins(smt, inst) == {0: 0}
    resized = env.admin.post(f"/v2.1/servers/{sid}/action", json={"resize": {"flavorRef": "iso2"}})
    assert resized.status_code == 202, resized.json
    assert row(sid).vm_state == "resized" and _pins(smt, inst) == {0: 0, 1: 1}
    with models.database.connection_context():
        assert Allocation.get(Allocation.instance_id == sid).cpus == [0, 1, 2, 3]
    assert env.admin.post(f"/v2.1/servers/{sid}/action", json={"revertResize": None}).status_code == 202
    assert row(sid).vm_state == "active" and _pins(smt, inst) == {0: 0}
    with models.database.connection_context():
        assert Allocation.get(Allocation.instance_id == sid).cpus == [0, 2]
    # a server whose node has left the site (no driver for it here) is not resized: 409, nothing held
    with models.database.connection_context():
        models.Instance.update(host="gone").where(models.Instance.id == sid).execute()
    refused = env.admin.post(f"/v2.1/servers/{sid}/action", json={"resize": {"flavorRef": "iso2"}})
    assert refused.status_code == 409 and "Compute node gone is not reachable" in refused.json["conflictingRequest"][
        "message"], refused.json
    with models.database.connection_context():
        assert Allocation.get(Allocation.instance_id == sid).cpus == [0, 2]
