"""Real L3 and policy: SNAT out, floating IP in, security groups opened and closed, QoS caps, restart reconcile."""
from __future__ import annotations

import subprocess
import time

import pytest

from network_dp_support import connect, received_tos, send_udp, serve_once, sh

pytestmark = pytest.mark.integration


def _routed_vm(cloud, cidr, **port_extra):
    public, _ = cloud.public()
    net, sub = cloud.network(cloud.a, cidr)
    router = cloud.router(cloud.a, sub, public)
    port = cloud.port(cloud.a, net, **port_extra)
    vm = cloud.vm(port)
    vm.dhcp()
    return public, net, router, port, vm


def test_snat_out_and_floating_ip_in(cloud, net_env):
    public, net, router, port, vm = _routed_vm(cloud, "10.71.0.0/24")
    gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    ext = net_env["ext"]
    # out: the VM reaches the outside host, which sees the router's gateway address (SNAT)
    srv = serve_once(ext, 7070)
    try:
        reply = connect(vm.name, "203.0.113.1", 7070)
    finally:
        srv.kill()
    assert reply == f"hello peer={gw_ip}"
    # in: the outside host reaches the VM through a floating IP once the security group allows it
    sg = cloud.a("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
    cloud.a("POST", "/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
        "port_range_min": 8080, "port_range_max": 8080, "remote_ip_prefix": "0.0.0.0/0"}})
    fip = cloud.a("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": public["id"],
                                                              "port_id": port["id"]}})["floatingip"]
    srv = serve_once(vm.name, 8080, b"from-vm")
    try:
        reply = connect(ext, fip["floating_ip_address"], 8080)
    finally:
        srv.kill()
    assert reply == "from-vm peer=203.0.113.1", cloud.diag()
    # and the VM's own outbound traffic now leaves with its floating IP
    srv = serve_once(ext, 7071)
    try:
        assert connect(vm.name, "203.0.113.1", 7071) == f"hello peer={fip['floating_ip_address']}"
    finally:
        srv.kill()
    # disassociate: the floating IP stops answering
    cloud.a("PUT", f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    assert "203.0.113.11" not in cloud.driver.inventory()["floating_ips"]


def test_security_group_rules_open_and_close_ports(cloud):
    net, _ = cloud.network(cloud.a, "10.72.0.0/24")
    locked = cloud.a("POST", "/v2.0/security-groups", {"security_group": {"name": "locked"}})["security_group"]
    server = cloud.vm(cloud.port(cloud.a, net, security_groups=[locked["id"]]))
    client = cloud.vm(cloud.port(cloud.a, net))
    server.dhcp()
    client.dhcp()
    srv = serve_once(server.name, 9000, timeout=30)
    try:
        assert connect(client.name, server.ip, 9000, timeout=1.0) is None
        rule = cloud.a("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": locked["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 9000,
            "port_range_max": 9000, "remote_ip_prefix": f"{client.ip}/32"}})["security_group_rule"]
        assert connect(client.name, server.ip, 9000) == f"hello peer={client.ip}", cloud.diag()
        assert not client.ping(server.ip, count=1)          # only TCP 9000 was opened
        cloud.a("DELETE", f"/v2.0/security-group-rules/{rule['id']}", status=204)
        assert connect(client.name, server.ip, 9000, timeout=1.0) is None
        # a remote-group rule: members of "default" (the client) may connect
        default = cloud.a("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
        cloud.a("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": locked["id"], "direction": "ingress", "protocol": "tcp",
            "remote_group_id": default["id"]}})
        assert connect(client.name, server.ip, 9000) == f"hello peer={client.ip}"
    finally:
        srv.kill()
    # anti-spoofing: the client cannot borrow another address
    client.run("ip", "addr", "add", "10.72.0.200/24", "dev", "eth0")
    srv = serve_once(server.name, 9001, timeout=10)
    try:
        code = ("import socket\ns=socket.socket();s.bind(('10.72.0.200',0));s.settimeout(1.5)\n"
                f"try:\n s.connect(('{server.ip}',9001));print('CONNECTED')\nexcept Exception as e: print('FAIL')")
        assert client.run("python3", "-c", code).stdout.strip() == "FAIL"
    finally:
        srv.kill()


def test_stateless_group_needs_a_rule_for_replies(cloud):
    """Same rules, two modes: conntrack lets the reply to an outbound connection back in only when stateful."""
    net, _ = cloud.network(cloud.a, "10.73.0.0/24")
    rules = lambda sg: cloud.a("POST", "/v2.0/security-group-rules", {"security_group_rule": {  # noqa: E731
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 9200,
        "port_range_max": 9200, "remote_ip_prefix": "10.73.0.0/24"}})
    tracked = cloud.a("POST", "/v2.0/security-groups", {"security_group": {"name": "tracked"}})["security_group"]
    loose = cloud.a("POST", "/v2.0/security-groups", {"security_group": {"name": "loose",
                                                                         "stateful": False}})["security_group"]
    rules(tracked)
    rules(loose)
    peer = cloud.vm(cloud.port(cloud.a, net, security_groups=[tracked["id"]]))
    with_ct = cloud.vm(cloud.port(cloud.a, net, security_groups=[tracked["id"]]))
    without_ct = cloud.vm(cloud.port(cloud.a, net, security_groups=[loose["id"]]))
    for vm in (peer, with_ct, without_ct):
        vm.dhcp()
    srv = serve_once(peer.name, 9200, timeout=30)
    try:
        assert connect(with_ct.name, peer.ip, 9200) == f"hello peer={with_ct.ip}", cloud.diag()
        # the SYN leaves (egress rule), the SYN-ACK from port 9200 matches no ingress rule: dropped
        assert connect(without_ct.name, peer.ip, 9200, timeout=1.5) is None
        cloud.a("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": loose["id"], "direction": "ingress", "protocol": "tcp",
            "remote_ip_prefix": f"{peer.ip}/32"}})
        assert connect(without_ct.name, peer.ip, 9200) == f"hello peer={without_ct.ip}", cloud.diag()
    finally:
        srv.kill()


def _throughput(src, dst_ns, dst_ip, port, seconds=1.5) -> float:
    """Bytes/s received by a sink in `dst_ns` from a sender in netns `src` (a plain Python socket pump).

    A connection that cannot be opened within 5 s is retried on the next port (at most 3 times): on a loaded
    2-core machine a SYN right after a qdisc change was seen to get lost (see the closing report)."""
    for attempt in range(3):
        sink = subprocess.Popen(["ip", "netns", "exec", dst_ns, "python3", "-c",
                                 "import socket,time;s=socket.socket();"
                                 "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                                 f"s.bind(('0.0.0.0',{port + attempt * 100}));s.listen(1);s.settimeout(20);"
                                 "print('ready',flush=True);c,_=s.accept()\n"
                                 "n=0;t=time.time()\nwhile True:\n d=c.recv(1<<16)\n if not d: break\n n+=len(d)\n"
                                 "print(n/(time.time()-t),flush=True)"], stdout=subprocess.PIPE, text=True)
        assert sink.stdout.readline().strip() == "ready"
        # the send timeout bounds a stall (TCP backing off behind a shaper on a loaded machine)
        code = (f"import socket,time,sys\ntry: s=socket.create_connection(('{dst_ip}',{port + attempt * 100}),10)\n"
                "except OSError: sys.exit(3)\n"
                f"s.settimeout(5);b=b'x'*65536;t=time.time()\ntry:\n while time.time()-t<{seconds}: s.send(b)\n"
                "except OSError: pass\ns.close()")
        proc = sh("ip", "netns", "exec", src, "python3", "-c", code, timeout=60, check=False)
        if proc.returncode == 3:
            sink.kill()
            sink.wait()
            continue
        rate = float(sink.stdout.readline().strip())
        sink.wait(timeout=30)
        return rate
    raise AssertionError(f"no TCP connection from {src} to {dst_ip} in 3 attempts")


def test_qos_limit_caps_throughput(cloud):
    net, _ = cloud.network(cloud.a, "10.73.0.0/24")
    # the operator makes the policy (QoS is admin-only, as in Neutron); the member attaches it to a port
    policy = cloud.admin("POST", "/v2.0/qos/policies", {"policy": {"name": "8mbit", "shared": True}})["policy"]
    for direction in ("ingress", "egress"):
        cloud.admin("POST", f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules", {"bandwidth_limit_rule": {
            "max_kbps": 8000, "max_burst_kbps": 800, "direction": direction}})
    sg = cloud.a("GET", "/v2.0/security-groups", name="default")["security_groups"][0]
    limited = cloud.vm(cloud.port(cloud.a, net))
    other = cloud.vm(cloud.port(cloud.a, net))
    limited.dhcp()
    other.dhcp()
    free = _throughput(other.name, limited.name, limited.ip, 5001)
    cloud.a("PUT", f"/v2.0/ports/{limited.port['id']}", {"port": {"qos_policy_id": policy["id"]}})
    towards = _throughput(other.name, limited.name, limited.ip, 5002)
    away = _throughput(limited.name, other.name, other.ip, 5003)
    limit = 8000 * 1000 / 8
    assert towards < limit * 1.5, (towards, limit)
    assert away < limit * 1.5, (away, limit)
    assert free > limit * 3, (free, limit)            # the cap, not the machine, is what limited it
    assert sg["id"] in limited.port["security_groups"]
    cloud.a("PUT", f"/v2.0/ports/{limited.port['id']}", {"port": {"qos_policy_id": None}})
    assert _throughput(other.name, limited.name, limited.ip, 5004) > limit * 3


def test_dscp_marking_rule_marks_what_the_port_sends(cloud):
    net, _ = cloud.network(cloud.a, "10.77.0.0/24")
    policy = cloud.admin("POST", "/v2.0/qos/policies", {"policy": {"name": "voice", "shared": True}})["policy"]
    rule = cloud.admin("POST", f"/v2.0/qos/policies/{policy['id']}/dscp_marking_rules",
                       {"dscp_marking_rule": {"dscp_mark": 46}})["dscp_marking_rule"]
    marked = cloud.vm(cloud.port(cloud.a, net, qos_policy_id=policy["id"]))
    plain = cloud.vm(cloud.port(cloud.a, net))
    receiver = cloud.vm(cloud.port(cloud.a, net))
    for vm in (marked, plain, receiver):
        vm.dhcp()

    def tos_from(vm, tos, port):
        return received_tos(receiver.name, port, lambda: send_udp(vm.name, receiver.ip, port, tos))
    # the sender asks for CS1 with ECT(1): the port's rule makes it EF (46), the ECN bits stay the sender's
    assert tos_from(marked, 0x21, 5101) == 46 << 2 | 1, cloud.diag()
    assert tos_from(plain, 0x21, 5102) == 0x21           # a port without the policy sends what it asked for
    cloud.admin("PUT", f"/v2.0/qos/policies/{policy['id']}/dscp_marking_rules/{rule['id']}",
                {"dscp_marking_rule": {"dscp_mark": 10}})
    assert tos_from(marked, 0, 5103) == 10 << 2
    cloud.a("PUT", f"/v2.0/ports/{marked.port['id']}", {"port": {"qos_policy_id": None}})
    assert tos_from(marked, 0x21, 5104) == 0x21
    assert cloud.driver.inventory()["marked_taps"] == []


def test_restart_reconciles_deleted_links(cloud, net_env, mint_token):
    public, net, router, port, vm = _routed_vm(cloud, "10.74.0.0/24")
    before = cloud.driver.inventory()
    assert vm.ping("10.74.0.1", count=1)
    # "kill the service" and wreck the data plane behind its back
    del cloud.app
    prefix = net_env["prefix"]
    sh("ip", "link", "del", "brq" + net["id"][:11])
    dhcp_tap = next(l for l in sh("ip", "-o", "link").stdout.splitlines()
                    if f"brq{public['id'][:11]}" in l and "tap" in l).split(":")[1].strip().split("@")[0]
    sh("ip", "link", "del", dhcp_tap)
    sh("ip", "netns", "del", f"{prefix}-qrouter-{router['id']}")
    sh("nft", "delete", "table", "inet", f"{prefix}_sg")
    pid = int((net_env["settings"].state_dir / "network" / f"dhcp-{prefix}" / net["id"] / "pid").read_text())
    subprocess.run(["kill", pid.__str__()])
    # a leftover the DB does not know about must go
    sh("ip", "netns", "add", f"{prefix}-qrouter-stale")
    settings = net_env["settings"]
    settings.service["network"]["reconcile_interval"] = 0.5
    from network_dp_support import Cloud
    restarted = Cloud(net_env, mint_token)
    deadline = time.time() + 20
    while time.time() < deadline and restarted.driver.inventory() != before:
        time.sleep(0.3)
    restarted.app.extensions["egret.stop"].set()
    assert restarted.driver.inventory() == before
    # the VM's tap was re-attached to the rebuilt bridge and the path works again
    vm.run("ip", "addr", "flush", "dev", "eth0")
    vm.dhcp()
    assert vm.ping("10.74.0.1", count=1)
    srv = serve_once(net_env["ext"], 7072)
    try:
        gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        assert connect(vm.name, "203.0.113.1", 7072) == f"hello peer={gw_ip}"
    finally:
        srv.kill()


def test_security_groups_filter_ipv6(cloud):
    net, _ = cloud.network(cloud.a, "10.75.0.0/24")
    cloud.a("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "fd00:75::/64", "ip_version": 6}})
    locked = cloud.a("POST", "/v2.0/security-groups", {"security_group": {"name": "locked6"}})["security_group"]
    server = cloud.vm(cloud.port(cloud.a, net, security_groups=[locked["id"]]))
    client = cloud.vm(cloud.port(cloud.a, net))
    v6 = {}
    for vm in (server, client):
        vm.dhcp()
        v6[vm.name] = next(f["ip_address"] for f in vm.port["fixed_ips"] if ":" in f["ip_address"])
        vm.run("ip", "-6", "addr", "add", v6[vm.name] + "/64", "dev", "eth0", "nodad")
    code = ("import socket,sys;s=socket.socket(socket.AF_INET6);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
            "s.bind(('::',9100));s.listen(5);s.settimeout(30);print('ready',flush=True)\n"
            "while True:\n c,a=s.accept();c.sendall(b'v6 '+a[0].encode());c.close()")
    srv = subprocess.Popen(["ip", "netns", "exec", server.name, "python3", "-c", code], stdout=subprocess.PIPE,
                           text=True)
    assert srv.stdout.readline().strip() == "ready"

    def dial(timeout):
        probe = ("import socket\ntry:\n s=socket.create_connection(('%s',9100),timeout=%s);print(s.recv(100).decode())\n"
                 "except Exception: print('FAIL')" % (v6[server.name], timeout))
        return client.run("python3", "-c", probe).stdout.strip()
    try:
        assert dial(1.5) == "FAIL"
        cloud.a("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": locked["id"], "direction": "ingress", "ethertype": "IPv6", "protocol": "tcp",
            "port_range_min": 9100, "port_range_max": 9100, "remote_ip_prefix": "fd00:75::/64"}})
        assert dial(10) == f"v6 {v6[client.name]}", cloud.diag()
    finally:
        srv.kill()
