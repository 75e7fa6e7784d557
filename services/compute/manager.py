"""Compute's API-side logic: flavors, keypairs, quotas, server create/list/delete and the action state machine.

The long halves run in composed collaborators: the builder (build.py), the device manager (devices.py), the
actions (actions.py) and the reconciler (reconcile.py), which share one Node (node.py)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.errors import BadRequest, Conflict, Forbidden, NotFound
from services.compute import instance_actions, scheduler, volume_nodes
from services.compute.actions import ServerActions
from services.compute.build import ServerBuilder
from services.compute.devices import DeviceManager
from services.compute.drivers.base import DriverError, UnsupportedSpec
from services.compute.external import ExternalError
from services.compute.models import Flavor, FlavorAccess, Instance, KeyPair, Quota, ServerGroup, VolumeAttachment
from services.compute.moves import ServerMoves
from services.compute.node import Node
from services.compute.reconcile import Reconciler
from services.compute.schemas import to_bool
from services.compute.states import flavor_snapshot, status_of

log = logging.getLogger(__name__)

DEFAULT_QUOTAS = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "server_groups": 10,
                  "server_group_members": 10, "metadata_items": 128, "injected_files": 5,
                  "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255}


class ComputeManager:
    """The one object the API views hold; it validates, records, and hands the long work to its collaborators."""

    def __init__(self, settings, driver, clients: dict, synchronous: bool = False):
        self.node = Node(settings, driver, clients, synchronous)
        self.settings, self.driver, self.tasks = settings, driver, self.node.tasks
        self.network, self.image, self.volume = self.node.network, self.node.image, self.node.volume
        self.devices = DeviceManager(self.node)
        self.builder = ServerBuilder(self.node, self.devices)
        self.actions = ServerActions(self.node)
        self.moves = ServerMoves(self.node, self.builder, self.devices)
        self.reconciler = Reconciler(self.node, self.builder)

    # -- what the views and the service's start-up call on the collaborators ----------------------------------
    @property
    def host(self) -> str:
        return self.node.host

    def attach_volume(self, inst, volume_id: str, token, delete_on_termination=False, tag=None):
        return self.devices.attach_volume(inst, volume_id, token, delete_on_termination, tag)

    def detach_volume(self, inst, att, token) -> None:
        self.devices.detach_volume(inst, att, token)

    def attach_interface(self, inst, net_id: str | None, port_id: str | None, token) -> dict:
        return self.devices.attach_interface(inst, net_id, port_id, token)

    def detach_interface(self, inst, port_id: str, token) -> None:
        self.devices.detach_interface(inst, port_id, token)

    def floating_ips(self, instances) -> dict:
        return self.devices.floating_ips(instances)

    def console_output(self, inst: Instance, length) -> dict:
        return self.actions.console_output(inst, length)

    def reconcile(self) -> dict:
        # moves first: the reconciler would otherwise clear their task states and leave a server between nodes
        moved = self.moves.recover()
        return {**self.reconciler.reconcile(), "recovered_moves": moved}

    def sync_power_states(self) -> int:
        return self.reconciler.sync_power_states()

    def start_background(self, interval: float):
        return self.reconciler.start_background(interval)

    # -- flavors ------------------------------------------------------------------------------------------
    def get_flavor(self, flavor_id: str, ctx=None, admin=True) -> Flavor:
        f = Flavor.get_or_none(Flavor.id == str(flavor_id))
        if f is None or (not admin and not f.is_public and ctx is not None and
                         not FlavorAccess.get_or_none((FlavorAccess.flavor == f) &
                                                      (FlavorAccess.project_id == ctx.project_id))):
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return f

    def list_flavors(self, ctx, admin: bool, is_public, min_ram=None, min_disk=None) -> list:
        q = Flavor.select().order_by(Flavor.ram, Flavor.id)
        out = []
        for f in q:
            if min_ram is not None and f.ram < min_ram or min_disk is not None and f.disk < min_disk:
                continue
            if is_public is None:
                visible = admin or f.is_public or bool(
                    FlavorAccess.get_or_none((FlavorAccess.flavor == f) & (FlavorAccess.project_id == ctx.project_id)))
            elif is_public:
                visible = f.is_public
            else:
                visible = not f.is_public and (admin or bool(FlavorAccess.get_or_none(
                    (FlavorAccess.flavor == f) & (FlavorAccess.project_id == ctx.project_id))))
            if visible:
                out.append(f)
        return out

    def create_flavor(self, body: dict) -> Flavor:
        fid = body.get("id") or None
        fid = str(fid) if fid is not None else None
        if Flavor.get_or_none(Flavor.name == body["name"]):
            raise Conflict(f"Flavor with name {body['name']} already exists.")
        if fid and Flavor.get_or_none(Flavor.id == fid):
            raise Conflict(f"Flavor with ID {fid} already exists.")
        return Flavor.create(id=fid or str(uuid.uuid4()), name=body["name"], ram=body["ram"], vcpus=body["vcpus"],
                             disk=body["disk"], swap=body.get("swap") or 0,
                             ephemeral=body.get("OS-FLV-EXT-DATA:ephemeral", 0) or 0,
                             rxtx_factor=body.get("rxtx_factor", 1.0),
                             is_public=body.get("os-flavor-access:is_public", True),
                             description=body.get("description"))

    # -- keypairs -----------------------------------------------------------------------------------------
    def create_keypair(self, user_id: str, name: str, public_key: str | None, key_type: str = "ssh"):
        if self.exceeds("", "key_pairs", KeyPair.select().where(KeyPair.user_id == user_id).count() + 1):
            raise Forbidden("Quota exceeded, too many key pairs.")
        if KeyPair.get_or_none((KeyPair.user_id == user_id) & (KeyPair.name == name)):
            raise Conflict(f"Key pair '{name}' already exists.")
        private = None
        if public_key is None:
            public_key, private = _generate_key()
        fingerprint = _fingerprint(public_key)
        return KeyPair.create(name=name, user_id=user_id, public_key=public_key.strip(), fingerprint=fingerprint,
                              type=key_type), private

    def get_keypair(self, user_id: str, name: str) -> KeyPair:
        kp = KeyPair.get_or_none((KeyPair.user_id == user_id) & (KeyPair.name == name))
        if kp is None:
            raise NotFound(f"Keypair {name} not found for user {user_id}.")
        return kp

    # -- quotas -------------------------------------------------------------------------------------------
    def quota_limit(self, project_id: str, resource: str) -> int:
        row = Quota.get_or_none((Quota.project_id == project_id) & (Quota.resource == resource))
        if row is None and project_id:
            row = Quota.get_or_none((Quota.project_id == "") & (Quota.resource == resource))
        return row.hard_limit if row else DEFAULT_QUOTAS[resource]

    def exceeds(self, project_id: str, resource: str, total: int) -> bool:
        """-1 means unlimited, as in Nova."""
        limit = self.quota_limit(project_id, resource)
        return limit >= 0 and total > limit

    def quotas(self, project_id: str) -> dict:
        return {r: self.quota_limit(project_id, r) for r in DEFAULT_QUOTAS}

    def set_quotas(self, project_id: str, values: dict) -> dict:
        for resource, limit in values.items():
            row = Quota.get_or_none((Quota.project_id == project_id) & (Quota.resource == resource))
            if row:
                row.hard_limit = limit
                row.save()
            else:
                Quota.create(project_id=project_id, resource=resource, hard_limit=limit)
        return self.quotas(project_id)

    def usage(self, project_id: str) -> dict:
        live = Instance.select().where((Instance.project_id == project_id) & (Instance.deleted == False))  # noqa: E712
        used = {"instances": 0, "cores": 0, "ram": 0}
        for inst in live:
            used["instances"] += 1
            used["cores"] += int(inst.flavor.get("vcpus", 0))
            used["ram"] += int(inst.flavor.get("ram", 0))
        used["server_groups"] = ServerGroup.select().where(ServerGroup.project_id == project_id).count()
        return used

    def check_quota(self, project_id: str, count: int, flavor: Flavor) -> None:
        used = self.usage(project_id)
        want = {"instances": count, "cores": count * flavor.vcpus, "ram": count * flavor.ram}
        over = [r for r, n in want.items() if self.exceeds(project_id, r, used[r] + n)]
        if over:
            r = over[0]
            raise Forbidden(f"Quota exceeded for {', '.join(over)}: Requested {want[r]}, but already used "
                            f"{used[r]} of {self.quota_limit(project_id, r)} {r}")

    # -- servers ------------------------------------------------------------------------------------------
    def get_instance(self, server_id: str, ctx, admin: bool, allow_deleted=False) -> Instance:
        inst = Instance.get_or_none(Instance.id == server_id)
        if inst is None or (inst.deleted and not allow_deleted) or (not admin and inst.project_id != ctx.project_id):
            raise NotFound(f"Instance {server_id} could not be found.")
        return inst

    def list_instances(self, ctx, admin: bool, filters: dict) -> list:
        q = Instance.select()
        if not (admin and str(filters.get("all_tenants", "")).lower() not in ("", "0", "false")) and \
                "all_tenants" not in filters:
            q = q.where(Instance.project_id == ctx.project_id)
        elif not admin:
            q = q.where(Instance.project_id == ctx.project_id)
        project = filters.get("project_id") or filters.get("tenant_id")
        if project and admin:
            q = q.where(Instance.project_id == project)
        deleted = str(filters.get("deleted", "false")).lower() in ("true", "1", "yes") and admin
        q = q.where(Instance.deleted == deleted)
        out = []
        name_re = None
        if filters.get("name"):
            try:
                name_re = re.compile(filters["name"])
            except re.error:
                raise BadRequest(f"Invalid regular expression in filter 'name': {filters['name']}.") from None
        statuses = {s.upper() for s in filters.getlist("status")} if hasattr(filters, "getlist") else \
            ({filters["status"].upper()} if filters.get("status") else set())
        for inst in q.order_by(Instance.created_at.desc(), Instance.id):
            if name_re and not name_re.search(inst.name):
                continue
            if statuses and status_of(inst) not in statuses:
                continue
            if filters.get("image") and inst.image_ref != filters["image"]:
                continue
            if filters.get("flavor") and str(inst.flavor.get("id")) != filters["flavor"]:
                continue
            if filters.get("host") and admin and inst.host != filters["host"]:
                continue
            if filters.get("ip"):
                ips = [ip for p in inst.ports or [] for ip in p.get("ips", [])]
                if not any(re.search(filters["ip"], ip) for ip in ips):
                    continue
            if filters.get("locked") is not None and str(inst.locked).lower() != str(filters["locked"]).lower():
                continue
            if filters.get("key_name") and inst.key_name != filters["key_name"]:
                continue
            if filters.get("tags"):
                if not set(filters["tags"].split(",")) <= set(inst.tags or []):
                    continue
            if filters.get("changes-since"):
                stamp = filters["changes-since"].replace("Z", "").replace("T", " ")[:19]
                if str(inst.updated_at) < stamp:
                    continue
            out.append(inst)
        if filters.get("marker"):
            ids = [i.id for i in out]
            if filters["marker"] not in ids:
                raise BadRequest(f"marker [{filters['marker']}] not found")
            out = out[ids.index(filters["marker"]) + 1:]
        if filters.get("limit") is not None:
            try:
                limit = int(filters["limit"])
                assert limit >= 0
            except (ValueError, AssertionError):
                raise BadRequest("Invalid input for query parameters limit: it must be a non-negative integer.")
            out = out[:limit]
        return out

    def create_servers(self, ctx, token: str, body: dict, admin: bool) -> list[Instance]:
        flavor_id = str(body["flavorRef"]).rstrip("/").rsplit("/", 1)[-1]
        try:
            flavor = self.get_flavor(flavor_id, ctx, admin=admin)
        except NotFound:
            raise BadRequest(f"Flavor {flavor_id} could not be found.") from None
        bdms = body.get("block_device_mapping_v2") or []
        image_ref = str(body.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
        boot_volume = None
        for bdm in bdms:
            if str(bdm.get("boot_index", "")) == "0":
                if bdm.get("source_type") == "image" and bdm.get("destination_type", "local") == "local":
                    image_ref = image_ref or bdm.get("uuid", "")
                elif bdm.get("source_type") == "volume":
                    boot_volume = bdm.get("uuid")
        image = None
        if boot_volume:
            try:
                vol = self.volume.get_volume(ctx.project_id, boot_volume, token)
            except ExternalError as exc:
                raise BadRequest(f"Volume {boot_volume} could not be found." if exc.status == 404 else str(exc))
            if vol.get("status") != "available":
                raise BadRequest(f"Volume {boot_volume} status must be available, but is {vol.get('status')}.")
        elif not image_ref:
            raise BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
                             "device mapping combination is not valid.")
        else:
            try:
                image = self.image.get_image(image_ref, token)
            except ExternalError as exc:
                raise BadRequest(f"Image {image_ref} could not be found." if exc.status == 404 else str(exc))
            if image.get("status") != "active":
                raise BadRequest(f"Image {image_ref} is not active.")
            if flavor.ram < int(image.get("min_ram") or 0):
                raise BadRequest("Flavor's memory is too small for requested image.")
        for bdm in bdms:
            if bdm.get("source_type") == "volume" and str(bdm.get("boot_index", "")) != "0":
                try:
                    self.volume.get_volume(ctx.project_id, bdm["uuid"], token)
                except ExternalError:
                    raise BadRequest(f"Volume {bdm.get('uuid')} could not be found.") from None
        try:
            scheduler.check_extra_specs(self.node, flavor.extra_specs or {}, flavor.vcpus, flavor.ram)
        except UnsupportedSpec as exc:
            raise BadRequest(f"Flavor {flavor.id} cannot be used on this host: {exc}") from None
        key = None
        if body.get("key_name"):
            key = KeyPair.get_or_none((KeyPair.user_id == ctx.user_id) & (KeyPair.name == body["key_name"]))
            if key is None:
                raise BadRequest("Invalid key_name provided.")
        user_data = body.get("user_data")
        if user_data:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("User data needs to be valid base 64.") from None
        metadata = body.get("metadata") or {}
        if self.exceeds(ctx.project_id, "metadata_items", len(metadata)):
            raise Forbidden("Quota exceeded for metadata_items: too many metadata items.")
        group = None
        hints = body.get("os:scheduler_hints") or {}
        if hints.get("group"):
            group = ServerGroup.get_or_none(ServerGroup.id == hints["group"])
            if group is None or (group.project_id != ctx.project_id and not admin):
                raise BadRequest(f"Invalid server group {hints['group']}.")
        count = int(body.get("max_count", body.get("min_count", 1)) or 1)
        min_count = int(body.get("min_count", 1) or 1)
        if min_count > count:
            raise BadRequest("min_count must be <= max_count")
        self.check_quota(ctx.project_id, min_count, flavor)
        plan = self.devices.resolve_networks(body.get("networks"), ctx, token)
        sgs = self.devices.resolve_security_groups(body.get("security_groups") or [], token)
        # each existing volume's node, recorded on its row for the scheduler (a forced host elsewhere: 409)
        placed = volume_nodes.for_create(self.node, ctx.project_id, body["name"], bdms, body.get("availability_zone"))
        reservation = "r-" + secrets.token_hex(4)
        made = []
        for index in range(count):
            name = body["name"] if count == 1 else f"{body['name']}-{index + 1}"
            iid = str(uuid.uuid4())
            inst = Instance.create(
                id=iid, name=name, project_id=ctx.project_id, user_id=ctx.user_id,
                flavor=flavor_snapshot(flavor), image_ref="" if boot_volume else image_ref,
                key_name=key.name if key else None, key_data=key.public_key if key else None,
                user_data=user_data, metadata=metadata, description=body.get("description"),
                hostname=_hostname(body.get("hostname") or name), vm_state="building", task_state="scheduling",
                domain_name=self.driver.prefix + iid, availability_zone=body.get("availability_zone") or "",
                security_groups=sgs, config_drive=to_bool(body.get("config_drive")),
                requested_networks=plan, tags=body.get("tags") or [],
                server_group_id=group.id if group else None, launch_index=index, reservation_id=reservation,
                access_ipv4=body.get("accessIPv4", ""), access_ipv6=body.get("accessIPv6", ""),
                boot_from_volume=bool(boot_volume))
            for bdm in bdms:
                if bdm.get("source_type") == "volume" or bdm.get("destination_type") == "volume":
                    boot = str(bdm.get("boot_index", "")) == "0"
                    VolumeAttachment.create(instance=inst, volume_id=bdm["uuid"], device="vda" if boot else "",
                                            boot_index=0 if boot else None, tag=bdm.get("tag"),
                                            delete_on_termination=to_bool(bdm.get("delete_on_termination")),
                                            connection_info=placed.get(bdm["uuid"]))
            made.append(inst)
        for inst in made:
            instance_actions.record(inst, "create", ctx)
            self.tasks.submit(self.builder.build_instance, inst.id, token)
        return made

    # -- deletion and actions ------------------------------------------------------------------------------
    def check_lock(self, inst: Instance, admin: bool) -> None:
        if inst.locked and not admin:
            raise Conflict(f"Instance {inst.id} is locked")

    def delete_server(self, inst: Instance, admin: bool, ctx=None) -> None:
        self.check_lock(inst, admin)
        inst.task_state = "deleting"
        inst.save()
        instance_actions.record(inst, "delete", ctx)
        self.tasks.submit(self.builder.delete_instance, inst.id)

    def action(self, inst: Instance, name: str, args, token: str, admin: bool, ctx=None):
        """Check the state machine, set the task state, and run the action (async where Nova is)."""
        if name in ("evacuate", "migrate"):
            self.check_lock(inst, admin)
            args = args or {}
            if name == "evacuate":
                return self.moves.evacuate(inst, args.get("host"), to_bool(args.get("force", False)), ctx)
            return self.moves.migrate(inst, args.get("host"), ctx)
        rules = {
            "os-start": (("stopped",), "powering-on"),
            "os-stop": (("active", "error"), "powering-off"),
            "reboot": (("active", "stopped", "paused", "suspended", "error"), "rebooting"),
            "pause": (("active",), "pausing"),
            "unpause": (("paused",), "unpausing"),
            "suspend": (("active",), "suspending"),
            "resume": (("suspended",), "resuming"),
            "resize": (("active", "stopped"), "resize_prep"),
            "confirmResize": (("resized",), None),
            "revertResize": (("resized",), "resize_reverting"),
            "createImage": (("active", "stopped", "paused", "suspended"), "image_snapshot"),
        }
        if name not in ("lock", "unlock"):
            self.check_lock(inst, admin)
        if name in rules:
            states, task = rules[name]
            if inst.vm_state not in states or inst.task_state is not None:
                raise Conflict(f"Cannot '{name}' instance {inst.id} while it is in "
                               + (f"task_state {inst.task_state}" if inst.task_state else f"vm_state {inst.vm_state}"))
        if name in instance_actions.NAMES and not (name in ("confirmResize", "revertResize")
                                                   and self.moves.unconfirmed(inst) is not None):
            instance_actions.record(inst, instance_actions.NAMES[name], ctx)   # a migration's records its own
        if name == "reboot":
            hard = str((args or {}).get("type", "SOFT")).upper() == "HARD"
            if not hard and inst.vm_state != "active":
                raise Conflict(f"Cannot 'reboot' instance {inst.id} while it is in vm_state {inst.vm_state}")
            inst.task_state = "rebooting_hard" if hard else "rebooting"
            inst.save()
            self.tasks.submit(self.actions.do_reboot, inst.id, hard)
            return None
        if name == "lock":
            inst.locked = True
            inst.locked_reason = (args or {}).get("locked_reason") if isinstance(args, dict) else None
            inst.save()
            return None
        if name == "unlock":
            inst.locked, inst.locked_reason = False, None
            inst.save()
            return None
        if name == "resize":
            new = self.get_flavor(str(args["flavorRef"]), admin=True)
            if new.id == inst.flavor.get("id"):
                raise BadRequest("When resizing, instances must change flavor!")
            if new.disk < int(inst.flavor.get("disk") or 0):
                raise BadRequest("Resize to a flavor with a smaller disk is not allowed.")
            try:
                # a resize happens in place: the server's node has to take the flavor, not this API's
                self.node.driver_for(inst).check_extra_specs(new.extra_specs or {}, new.vcpus, new.ram)
            except UnsupportedSpec as exc:
                raise BadRequest(f"Flavor {new.id} cannot be used on this host: {exc}") from None
            except DriverError as exc:     # the server's node has no driver here (removed from the site)
                raise Conflict(f"Cannot 'resize' instance {inst.id}: {exc}") from None
            extra = {"instances": 0, "cores": new.vcpus - int(inst.flavor["vcpus"]),
                     "ram": new.ram - int(inst.flavor["ram"])}
            used = self.usage(inst.project_id)
            for r in ("cores", "ram"):
                if extra[r] > 0 and self.exceeds(inst.project_id, r, used[r] + extra[r]):
                    raise Forbidden(f"Quota exceeded for {r}: Requested {extra[r]}, but already used {used[r]} "
                                    f"of {self.quota_limit(inst.project_id, r)} {r}")
            inst.task_state = "resize_prep"
            inst.save()
            self.tasks.submit(self.actions.do_resize, inst.id, flavor_snapshot(new))
            return None
        if name in ("confirmResize", "revertResize") and (moved := self.moves.unconfirmed(inst)) is not None:
            # a cold migration's: the source's copy goes (confirm) or the server goes back to it (revert)
            (self.moves.confirm if name == "confirmResize" else self.moves.revert)(inst, moved, ctx)
            return None
        if name == "confirmResize":
            scheduler.settle(inst, inst.flavor)   # the claim lets go of the old flavor's share
            inst.old_flavor = None
            inst.vm_state = "active" if inst.power_state == 1 else "stopped"
            inst.save()
            return None
        if name == "revertResize":
            inst.task_state = "resize_reverting"
            inst.save()
            self.tasks.submit(self.actions.do_revert_resize, inst.id)
            return None
        if name == "createImage":
            return self.actions.start_snapshot(inst, args, token)
        if name == "os-getConsoleOutput":
            return self.actions.console_output(inst, (args or {}).get("length"))
        task = rules[name][1]
        inst.task_state = task
        inst.save()
        self.tasks.submit(self.actions.do_power_action, inst.id, name)
        return None


def _hostname(name: str) -> str:
    host = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
    return host or "server"


def _fingerprint(public_key: str) -> str:
    parts = public_key.strip().split()
    if len(parts) < 2:
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint.")
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint.") from None
    digest = hashlib.md5(raw).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def _generate_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode() + " Generated-by-Egret"
    return public, private
