"""Nova response bodies: servers, flavors, keypairs, attachments, groups, limits, hosts, per microversion."""
from __future__ import annotations

import hashlib
import json
import uuid

from flask import request

from services.compute.microversion import at_least
from services.compute.scheduler import nodes
from services.compute.states import status_of

def iso(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def base_url() -> str:
    return request.host_url.rstrip("/")


def links(kind: str, ident: str, project_id: str | None = None) -> list:
    root = base_url()
    return [{"rel": "self", "href": f"{root}/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{root}/{kind}/{ident}"}]


def flavor(f, detail=True) -> dict:
    body = {"id": f.id, "name": f.name, "links": links("flavors", f.id)}
    if not detail:
        if at_least(55):
            body["description"] = f.description
        return body
    body.update({"ram": f.ram, "vcpus": f.vcpus, "disk": f.disk, "swap": f.swap or "",
                 "OS-FLV-EXT-DATA:ephemeral": f.ephemeral, "OS-FLV-DISABLED:disabled": f.disabled,
                 "os-flavor-access:is_public": f.is_public, "rxtx_factor": f.rxtx_factor})
    if at_least(55):
        body["description"] = f.description
    if at_least(61):
        body["extra_specs"] = dict(f.extra_specs or {})
    return body


def keypair(k, with_private: str | None = None, detail=True) -> dict:
    body = {"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint}
    if at_least(2):
        body["type"] = k.type
    if with_private:
        body["private_key"] = with_private
    if detail:
        body.update({"user_id": k.user_id, "created_at": iso(k.created_at), "deleted": False,
                     "deleted_at": None, "updated_at": None, "id": abs(hash(k.id)) % (10 ** 8)})
    return body


def addresses(inst, floating: dict) -> dict:
    out: dict[str, list] = {}
    for p in inst.ports or []:
        entries = out.setdefault(p.get("network_name") or p.get("network_id", "network"), [])
        for ip in p.get("ips", []):
            version = 6 if ":" in ip else 4
            entries.append({"version": version, "addr": ip, "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": p.get("mac")})
            for fip in floating.get((p["port_id"], ip), []):
                entries.append({"version": 4, "addr": fip, "OS-EXT-IPS:type": "floating",
                                "OS-EXT-IPS-MAC:mac_addr": p.get("mac")})
    return out


def server_brief(inst) -> dict:
    return {"id": inst.id, "name": inst.name, "links": links("servers", inst.id)}


def server(inst, *, admin: bool, floating: dict | None = None, attachments=None, groups=None) -> dict:
    """`admin`: the caller sees the host attributes and a fault's details (the view's call.check)."""
    fl = inst.flavor or {}
    if at_least(47):
        flv = {"vcpus": fl.get("vcpus"), "ram": fl.get("ram"), "disk": fl.get("disk"),
               "ephemeral": fl.get("ephemeral", 0), "swap": fl.get("swap", 0), "original_name": fl.get("name"),
               "extra_specs": fl.get("extra_specs", {})}
    else:
        flv = {"id": fl.get("id"), "links": [links("flavors", fl.get("id", ""))[1]]}
    image = "" if inst.boot_from_volume or not inst.image_ref else \
        {"id": inst.image_ref, "links": [{"rel": "bookmark", "href": f"{base_url()}/images/{inst.image_ref}"}]}
    host_id = hashlib.sha224((inst.project_id + inst.host).encode()).hexdigest() if inst.host else ""
    vols = [{"id": a.volume_id, **({"delete_on_termination": a.delete_on_termination} if at_least(3) else {})}
            for a in (attachments or [])]
    body = {
        "id": inst.id, "name": inst.name, "status": status_of(inst), "tenant_id": inst.project_id,
        "user_id": inst.user_id, "metadata": dict(inst.metadata or {}), "hostId": host_id, "image": image,
        "flavor": flv, "created": iso(inst.created_at), "updated": iso(inst.updated_at),
        "addresses": addresses(inst, floating or {}), "accessIPv4": inst.access_ipv4,
        "accessIPv6": inst.access_ipv6, "links": links("servers", inst.id), "OS-DCF:diskConfig": "MANUAL",
        "progress": 100 if inst.vm_state == "active" else 0,
        "OS-EXT-AZ:availability_zone": inst.availability_zone, "config_drive": "True" if inst.config_drive else "",
        "key_name": inst.key_name, "OS-SRV-USG:launched_at": iso(inst.launched_at),
        "OS-SRV-USG:terminated_at": iso(inst.terminated_at), "OS-EXT-STS:task_state": inst.task_state,
        "OS-EXT-STS:vm_state": inst.vm_state, "OS-EXT-STS:power_state": inst.power_state,
        "os-extended-volumes:volumes_attached": vols,
        "security_groups": [{"name": n} for n in (inst.security_groups or ["default"])] if inst.ports else [],
    }
    if admin:
        body.update({"OS-EXT-SRV-ATTR:host": inst.host or None,
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": inst.host or None,
                     "OS-EXT-SRV-ATTR:instance_name": inst.domain_name})
        if at_least(3):
            img = inst.image or {}
            body.update({"OS-EXT-SRV-ATTR:reservation_id": inst.reservation_id,
                         "OS-EXT-SRV-ATTR:launch_index": inst.launch_index,
                         "OS-EXT-SRV-ATTR:hostname": inst.hostname,
                         "OS-EXT-SRV-ATTR:kernel_id": img.get("kernel_id", ""),
                         "OS-EXT-SRV-ATTR:ramdisk_id": img.get("ramdisk_id", ""),
                         "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                         "OS-EXT-SRV-ATTR:user_data": inst.user_data})
    if at_least(9):
        body["locked"] = inst.locked
    if at_least(16) and admin:
        body["host_status"] = nodes.host_status(inst.host)
    if at_least(19):
        body["description"] = inst.description
    if at_least(26):
        body["tags"] = list(inst.tags or [])
    if at_least(63):
        body["trusted_image_certificates"] = None
    if at_least(71):
        body["server_groups"] = list(groups or [])
    if at_least(73):
        body["locked_reason"] = inst.locked_reason
    if inst.fault and inst.vm_state in ("error", "deleted"):
        fault = {k: inst.fault[k] for k in ("code", "message", "created")}
        # details name internal URLs and services (Nova shows them to admins only); a user's own mistake (4xx)
        # needs no more than its message
        if admin:
            fault["details"] = inst.fault.get("details", "")
        elif inst.fault.get("code") != 500:
            fault["details"] = inst.fault["message"]
        body["fault"] = fault
    return body


def volume_attachment(a) -> dict:
    body = {"id": a.volume_id, "volumeId": a.volume_id, "serverId": a.instance_id, "device": f"/dev/{a.device}"}
    if at_least(70):
        body["tag"] = a.tag
    if at_least(79):
        body["delete_on_termination"] = a.delete_on_termination
    return body


def interface(record) -> dict:
    return {"port_state": "ACTIVE", "fixed_ips": [{"ip_address": ip, "subnet_id": None}
                                                  for ip in record.get("ips", [])],
            "port_id": record["port_id"], "net_id": record["network_id"], "mac_addr": record.get("mac")}


def flavor_access(flavor_id: str, projects: list[str]) -> list[dict]:
    return [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]


def server_group(sg, members: list[str]) -> dict:
    body = {"id": sg.id, "name": sg.name, "members": members, "metadata": {}}
    if at_least(64):
        body.update({"policy": sg.policy, "rules": sg.rules or {}})
    else:
        body["policies"] = [sg.policy]
    if at_least(13):
        body.update({"project_id": sg.project_id, "user_id": sg.user_id})
    return body


def limits(q: dict, used: dict) -> dict:
    absolute = {"maxTotalInstances": q["instances"], "maxTotalCores": q["cores"], "maxTotalRAMSize": q["ram"],
                "maxTotalKeypairs": q["key_pairs"], "maxServerMeta": q["metadata_items"],
                "maxServerGroups": q["server_groups"], "maxServerGroupMembers": q["server_group_members"],
                "maxPersonality": q["injected_files"], "maxPersonalitySize": q["injected_file_content_bytes"],
                "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
                "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"]}
    if not at_least(36):
        absolute.update({"maxTotalFloatingIps": -1, "totalFloatingIpsUsed": 0, "maxSecurityGroups": -1,
                         "totalSecurityGroupsUsed": 0, "maxSecurityGroupRules": -1, "maxImageMeta": 128})
    return {"rate": [], "absolute": absolute}


def service_id(r):
    # from 2.53 hypervisors and services have UUIDs (derived from the host name: one node, one service); before,
    # integers (the node's place in registration order)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, r.host)) if at_least(53) else r.seq


def hypervisor_id(r):
    return r.node.id if at_least(53) else r.seq


def _status(node) -> str:
    return "disabled" if node.disabled else "enabled"


def hypervisor(r, detail: bool, with_servers: bool = False) -> dict:
    """os-hypervisors entry from a hosts.HostReport."""
    node = r.node
    body = {"id": hypervisor_id(r), "hypervisor_hostname": r.host, "state": node.state, "status": _status(node)}
    if with_servers and r.servers:
        body["servers"] = [{"uuid": sid, "name": name} for sid, name in r.servers]
    if not detail:
        return body
    pages = node.hugepages or {}
    threads = max((len(core) for core in node.thread_siblings or []), default=1)
    body.update({
        "hypervisor_type": {"kvm": "KVM", "qemu": "QEMU"}.get(node.hypervisor_type, node.hypervisor_type.upper()),
        "hypervisor_version": node.hypervisor_version, "host_ip": node.address,
        "running_vms": r.running_vms, "vcpus": node.vcpus, "memory_mb": node.memory_mb,
        "vcpus_used": r.vcpus_used, "memory_mb_used": r.memory_mb_used,
        "free_ram_mb": node.memory_mb - r.memory_mb_used,
        "local_gb": node.disk_gb, "local_gb_used": r.disk_gb_used, "free_disk_gb": node.disk_gb - r.disk_gb_used,
        "disk_available_least": node.disk_gb - r.disk_gb_used,
        "current_workload": r.busy,
        "cpu_info": {"arch": node.arch, "domain_type": node.hypervisor_type,
                     "domain_type_reason": (node.info or {}).get("domain_type_reason", ""),
                     "topology": {"cores": node.vcpus // threads, "sockets": 1, "threads": threads},
                     "numa_nodes": node.numa_nodes, "dedicated_cpus": node.dedicated_cpus,
                     "thread_siblings": node.thread_siblings or [],
                     "hugepages": {str(k): v for k, v in pages.items()}},
        "service": {"host": r.host, "id": service_id(r), "disabled_reason": node.disabled_reason},
    })
    if not at_least(28):
        body["cpu_info"] = json.dumps(body["cpu_info"])
    return body


HYPERVISOR_STATISTICS = ("vcpus", "memory_mb", "vcpus_used", "memory_mb_used", "free_ram_mb", "running_vms",
                         "local_gb", "local_gb_used", "free_disk_gb", "disk_available_least", "current_workload")


def hypervisor_statistics(reports) -> dict:
    out = {"count": len(reports), **{k: 0 for k in HYPERVISOR_STATISTICS}}
    for r in reports:
        node = r.node
        figures = {"vcpus": node.vcpus, "memory_mb": node.memory_mb, "vcpus_used": r.vcpus_used,
                   "memory_mb_used": r.memory_mb_used, "free_ram_mb": node.memory_mb - r.memory_mb_used,
                   "running_vms": r.running_vms, "local_gb": node.disk_gb, "local_gb_used": r.disk_gb_used,
                   "free_disk_gb": node.disk_gb - r.disk_gb_used,
                   "disk_available_least": node.disk_gb - r.disk_gb_used, "current_workload": r.busy}
        for key in HYPERVISOR_STATISTICS:
            out[key] += figures[key]
    return out


def compute_service(r) -> dict:
    node = r.node
    return {"id": service_id(r), "binary": "nova-compute", "host": r.host, "zone": node.availability_zone,
            "status": _status(node), "state": node.state, "updated_at": iso(node.updated_at),
            "disabled_reason": node.disabled_reason, "forced_down": bool(node.forced_down)}


def instance_action(row, request_id: str, events: bool = False) -> dict:
    """Nova's instanceAction (updated_at from 2.58; events, with no traceback, on show)."""
    out = {"action": row.action, "instance_uuid": row.instance_id, "message": row.message,
           "project_id": row.project_id, "request_id": request_id,
           "start_time": row.start_time.strftime("%Y-%m-%dT%H:%M:%S.%f"),
           "user_id": row.user_id, "updated_at": iso(row.updated_at)}
    if events:
        out["events"] = []
    return out


def migration(row, inst) -> dict:
    """Nova's os-migrations entry (migration_type from 2.23, uuid from 2.59; a cold migration keeps its flavor)."""
    flavor = str(((inst.flavor if inst is not None else None) or {}).get("id", ""))
    return {"id": row.id, "uuid": row.id, "instance_uuid": row.instance_id, "status": row.status,
            "migration_type": row.migration_type, "source_compute": row.source_compute,
            "source_node": row.source_compute, "dest_compute": row.dest_compute, "dest_node": row.dest_compute,
            "dest_host": row.dest_compute, "old_instance_type_id": flavor, "new_instance_type_id": flavor,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}
