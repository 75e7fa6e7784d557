"""Limits, quota sets, server groups, availability zones, and the admin views os-hypervisors / os-services."""
from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g, jsonify, request

from appliance.app import json_body
from appliance.errors import BadRequest, Forbidden, NotFound
from appliance.policy import check, enforce
from services.compute import render, schemas
from services.compute.drivers.base import RUNNING
from services.compute.microversion import at_least
from services.compute.models import Instance, ServerGroup

bp = Blueprint("compute_misc", __name__, url_prefix="/v2.1")


def mgr():
    return current_app.extensions["compute.manager"]


@bp.get("/limits")
def limits():
    project = request.args.get("tenant_id") or g.context.project_id
    if project != g.context.project_id:
        enforce("admin_required")
    q, used = mgr().quotas(project), mgr().usage(project)
    absolute = {"maxTotalInstances": q["instances"], "maxTotalCores": q["cores"], "maxTotalRAMSize": q["ram"],
                "maxTotalKeypairs": q["key_pairs"], "maxServerMeta": q["metadata_items"],
                "maxServerGroups": q["server_groups"], "maxServerGroupMembers": q["server_group_members"],
                "maxPersonality": q["injected_files"], "maxPersonalitySize": q["injected_file_content_bytes"],
                "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
                "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"]}
    if not at_least(36):
        absolute.update({"maxTotalFloatingIps": -1, "totalFloatingIpsUsed": 0, "maxSecurityGroups": -1,
                         "totalSecurityGroupsUsed": 0, "maxSecurityGroupRules": -1, "maxImageMeta": 128})
    return jsonify(limits={"rate": [], "absolute": absolute})


def _quota_body(project, values, detail=False):
    if detail:
        used = mgr().usage(project)
        values = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()}
    return {"id": project, **values}


@bp.get("/os-quota-sets/<project_id>")
def quota_show(project_id):
    enforce("compute:quotas:read", {"project_id": project_id})
    return jsonify(quota_set=_quota_body(project_id, mgr().quotas(project_id)))


@bp.get("/os-quota-sets/<project_id>/detail")
def quota_detail(project_id):
    enforce("compute:quotas:read", {"project_id": project_id})
    return jsonify(quota_set=_quota_body(project_id, mgr().quotas(project_id), detail=True))


@bp.get("/os-quota-sets/<project_id>/defaults")
def quota_defaults(project_id):
    return jsonify(quota_set=_quota_body(project_id, mgr().quotas("")))


@bp.put("/os-quota-sets/<project_id>")
def quota_update(project_id):
    enforce("compute:quotas:update")
    body = json_body(schemas.QUOTA_UPDATE)["quota_set"]
    body.pop("force", None)
    values = {}
    for k, v in body.items():
        try:
            values[k] = int(v)
        except ValueError:
            raise BadRequest(f"Invalid input for field 'quota_set/{k}': {v!r} is not an integer.") from None
    return jsonify(quota_set={k: v for k, v in mgr().set_quotas(project_id, values).items()})


@bp.delete("/os-quota-sets/<project_id>")
def quota_reset(project_id):
    enforce("compute:quotas:update")
    from services.compute.models import Quota
    Quota.delete().where(Quota.project_id == project_id).execute()
    return "", 202


# -- server groups ----------------------------------------------------------------------------------------
def _group(sg) -> dict:
    members = [i.id for i in Instance.select(Instance.id).where((Instance.server_group_id == sg.id) &
                                                                (Instance.deleted == False))]  # noqa: E712
    body = {"id": sg.id, "name": sg.name, "members": members, "metadata": {}}
    if at_least(64):
        body.update({"policy": sg.policy, "rules": sg.rules or {}})
    else:
        body["policies"] = [sg.policy]
    if at_least(13):
        body.update({"project_id": sg.project_id, "user_id": sg.user_id})
    return body


@bp.get("/os-server-groups")
def groups():
    q = ServerGroup.select()
    if not (check("admin_required") and request.args.get("all_projects")):
        q = q.where(ServerGroup.project_id == g.context.project_id)
    return jsonify(server_groups=[_group(sg) for sg in q])


@bp.post("/os-server-groups")
def create_group():
    body = json_body(schemas.CREATE_GROUP)["server_group"]
    enforce("compute:server_groups", {"project_id": g.context.project_id})
    if at_least(64):
        if "policies" in body or "policy" not in body:
            raise BadRequest("Invalid input for field 'server_group/policy': 'policy' is a required property.")
        policy = body["policy"]
    else:
        if "policy" in body or "rules" in body or "policies" not in body:
            raise BadRequest("Invalid input for field 'server_group/policies': 'policies' is a required property.")
        policy = body["policies"][0]
    if body.get("rules") and policy != "anti-affinity":
        raise BadRequest("Only anti-affinity policy supports rules.")
    project = g.context.project_id
    if mgr().exceeds(project, "server_groups", ServerGroup.select().where(ServerGroup.project_id == project).count() + 1):
        raise Forbidden("Quota exceeded, too many server groups.")
    sg = ServerGroup.create(id=str(uuid.uuid4()), name=body["name"], project_id=project,
                            user_id=g.context.user_id, policy=policy, rules=body.get("rules") or {})
    return jsonify(server_group=_group(sg)), 200


def _load_group(group_id):
    sg = ServerGroup.get_or_none(ServerGroup.id == group_id)
    if sg is None or (sg.project_id != g.context.project_id and not check("admin_required")):
        raise NotFound(f"Instance group {group_id} could not be found.")
    return sg


@bp.get("/os-server-groups/<group_id>")
def show_group(group_id):
    return jsonify(server_group=_group(_load_group(group_id)))


@bp.delete("/os-server-groups/<group_id>")
def delete_group(group_id):
    sg = _load_group(group_id)
    enforce("compute:server_groups", {"project_id": sg.project_id})
    sg.delete_instance()
    return "", 204


@bp.get("/os-availability-zone")
@bp.get("/os-availability-zone/detail")
def zones():
    if request.path.endswith("/detail"):
        enforce("compute:availability_zones:detail")  # hosts and services per zone: operators only, as in Nova
    return jsonify(availabilityZoneInfo=[{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}])


# -- admin views ----------------------------------------------------------------------------------------
def _hypervisor(detail: bool) -> dict:
    m = mgr()
    caps = m.driver.host_caps()
    hid = str(uuid.uuid5(uuid.NAMESPACE_DNS, m.host)) if at_least(53) else 1
    body = {"id": hid, "hypervisor_hostname": m.host, "state": "up", "status": "enabled"}
    if not detail:
        return body
    live = list(Instance.select().where((Instance.deleted == False) & (Instance.host == m.host)))  # noqa: E712
    running = [i for i in live if i.power_state == RUNNING]
    body.update({
        "hypervisor_type": {"kvm": "KVM", "qemu": "QEMU"}.get(caps.domain_type, caps.domain_type.upper()),
        "hypervisor_version": caps.hypervisor_version, "host_ip": m.settings.public_host,
        "running_vms": len(running), "vcpus": caps.cpus, "memory_mb": caps.memory_mb,
        "vcpus_used": sum(int(i.flavor.get("vcpus", 0)) for i in live),
        "memory_mb_used": sum(int(i.flavor.get("ram", 0)) for i in live),
        "free_ram_mb": caps.memory_mb - sum(int(i.flavor.get("ram", 0)) for i in live),
        "local_gb": 0, "local_gb_used": 0, "free_disk_gb": 0, "disk_available_least": 0,
        "current_workload": len([i for i in live if i.task_state]),
        "cpu_info": {"arch": caps.arch, "domain_type": caps.domain_type, "domain_type_reason":
                     caps.domain_type_reason, "topology": {"cores": caps.cpus, "sockets": 1, "threads": 1},
                     "numa_nodes": caps.numa_nodes, "dedicated_cpus": caps.dedicated_cpus,
                     "hugepages_free": {str(k): v for k, v in caps.hugepages.items()}},
        "service": {"host": m.host, "id": 1 if not at_least(53) else str(uuid.uuid5(uuid.NAMESPACE_URL, m.host)),
                    "disabled_reason": None},
    })
    if not at_least(28):
        import json
        body["cpu_info"] = json.dumps(body["cpu_info"])
    return body


@bp.get("/os-hypervisors")
def hypervisors():
    enforce("compute:hypervisors")
    return jsonify(hypervisors=[_hypervisor(False)])


@bp.get("/os-hypervisors/detail")
def hypervisors_detail():
    enforce("compute:hypervisors")
    return jsonify(hypervisors=[_hypervisor(True)])


@bp.get("/os-hypervisors/<hid>")
def hypervisor(hid):
    enforce("compute:hypervisors")
    body = _hypervisor(True)
    if str(body["id"]) != hid:
        raise NotFound(f"Hypervisor with ID '{hid}' could not be found.")
    return jsonify(hypervisor=body)


@bp.get("/os-hypervisors/statistics")
def hypervisor_stats():
    enforce("compute:hypervisors")
    h = _hypervisor(True)
    keys = ("vcpus", "memory_mb", "vcpus_used", "memory_mb_used", "free_ram_mb", "running_vms", "local_gb",
            "local_gb_used", "free_disk_gb", "disk_available_least", "current_workload")
    return jsonify(hypervisor_statistics={"count": 1, **{k: h[k] for k in keys}})


@bp.get("/os-services")
def services():
    enforce("compute:services")
    m = mgr()
    sid = 1 if not at_least(53) else str(uuid.uuid5(uuid.NAMESPACE_URL, m.host))
    rows = [{"id": sid, "binary": "nova-compute", "host": m.host, "zone": "nova", "status": "enabled",
             "state": "up", "updated_at": render.iso(__import__("appliance.db", fromlist=["utcnow"]).utcnow()),
             "disabled_reason": None, "forced_down": False}]
    if request.args.get("binary"):
        rows = [r for r in rows if r["binary"] == request.args["binary"]]
    return jsonify(services=rows)
