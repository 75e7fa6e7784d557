"""hw:cpu_thread_policy: pinned CPUs picked core by core from the node's SMT threads, in the guest plan, in claims
on SMT and single-thread nodes, and the threads read from libvirt's host capabilities."""
from __future__ import annotations

import pytest
from scheduler_support import caps, nodes, server

from services.compute import scheduler
from services.compute.drivers import cputhreads, hardware
from services.compute.drivers.libvirt import host as libvirt_host
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


def test_an_isolated_server_is_not_resized_in_place(db):
    nodes(1, dedicated=range(8), siblings=SMT)
    isolate = {"vcpus": 1, "extra_specs": {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}}
    inst = server(isolate)
    held = claim(inst, {})
    bigger = {**isolate, "vcpus": 2}
    with pytest.raises(NoValidHost, match="not resized in place"):
        scheduler.resize(inst, {"vcpus": 2, "ram": 512, "disk": 1, "extra_specs": bigger["extra_specs"]})
    assert Allocation.get(Allocation.instance_id == inst.id).cpus == held.cpus == [0, 4]


CAPABILITIES = """<capabilities><host><topology><cells num='1'><cell id='0'><cpus num='4'>
<cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,2'/><cpu id='1' socket_id='0' die_id='0' core_id='1' siblings='1,3'/>
<cpu id='2' socket_id='0' die_id='0' core_id='0' siblings='0,2'/><cpu id='3' socket_id='0' die_id='0' core_id='1' siblings='1,3'/>
</cpus></cell></cells></topology></host></capabilities>"""


def test_libvirt_capabilities_give_the_smt_cores():
    assert libvirt_host.thread_siblings(CAPABILITIES) == [[0, 2], [1, 3]]
    single = CAPABILITIES.replace("siblings='0,2'", "siblings='0'").replace("siblings='1,3'", "siblings='1-1'")
    assert libvirt_host.thread_siblings(single) == []
