"""Application credentials, EC2/TOTP credentials (the S3 access keys): create, look up, check."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets

from appliance import errors
from services.identity import passwords
from services.identity.manager import Manager
from services.identity.refusals import conflict, not_found
from services.identity.models import AppCredential, Credential, Project, Role, User


def ec2_id(access: str) -> str:
    return hashlib.sha256(access.encode()).hexdigest()


def parse_time(value) -> datetime.datetime | None:
    """Keystone's ISO 8601 times (with or without Z / fraction) to naive UTC."""
    if value is None:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.BadRequest(f"Invalid input for field 'expires_at': {value!r} is not an ISO 8601 time.") from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return stamp


class Credentials:
    def __init__(self, manager: Manager):
        self.m = manager
        self.settings = manager.settings

    # -- application credentials -----------------------------------------------------------------
    def create_app_cred(self, user_id: str, data: dict, ctx) -> tuple[AppCredential, str]:
        user = self.m.get(User, user_id)
        if not ctx.project_id:
            raise errors.BadRequest("Application credentials need a project-scoped token.")
        if ctx.app_cred_id:
            parent = AppCredential.get_or_none(AppCredential.id == ctx.app_cred_id)
            if parent is None or not parent.unrestricted:
                raise errors.Forbidden("A restricted application credential cannot create application credentials.")
        held = self.m.effective_role_ids(user.id, "project", ctx.project_id)
        if data.get("roles"):
            wanted = []
            for ref in data["roles"]:
                if "id" in ref:
                    role = Role.get_or_none(Role.id == ref["id"])
                else:
                    role = Role.get_or_none(Role.name == ref.get("name"))
                if role is None:
                    raise errors.NotFound(f"Could not find role: {ref.get('id') or ref.get('name')}.")
                wanted.append(role.id)
        else:
            wanted = sorted(held)
        missing = [r for r in wanted if r not in held]
        if missing or not wanted:
            raise errors.Forbidden("You cannot delegate roles you do not hold on this project: "
                                   f"{', '.join(missing) or 'none held'}.")
        expires = parse_time(data.get("expires_at"))
        if expires is not None and expires <= datetime.datetime.utcnow():
            raise errors.BadRequest("Invalid input for field 'expires_at': the time is in the past.")
        if AppCredential.get_or_none((AppCredential.user_id == user.id) & (AppCredential.name == data["name"])):
            raise conflict("application_credential", f"Duplicate entry found with name {data['name']}")
        secret = data.get("secret") or secrets.token_urlsafe(48)
        cred = AppCredential.create(
            name=data["name"], user_id=user.id, project_id=ctx.project_id, description=data.get("description") or "",
            secret_hash=passwords.hash_secret(secret, self.settings.password_hash_log2n), roles=sorted(set(wanted)),
            expires_at=expires, unrestricted=bool(data.get("unrestricted", False)))
        return cred, secret

    def list_app_creds(self, user_id: str, name: str | None = None) -> list[AppCredential]:
        self.m.get(User, user_id)
        query = AppCredential.select().where(AppCredential.user_id == user_id).order_by(AppCredential.name)
        if name:
            query = query.where(AppCredential.name == name)
        return list(query)

    @staticmethod
    def role_names(cred: AppCredential) -> dict[str, str]:
        """{role id: name} of the credential's roles that still exist."""
        return {r.id: r.name for r in Role.select().where(Role.id.in_(cred.roles or []))}

    def get_app_cred(self, user_id: str, cred_id: str) -> AppCredential:
        cred = AppCredential.get_or_none((AppCredential.id == cred_id) & (AppCredential.user_id == user_id))
        if cred is None:
            raise not_found("application credential", cred_id)
        return cred

    def delete_app_cred(self, user_id: str, cred_id: str) -> None:
        cred = self.get_app_cred(user_id, cred_id)
        cred.delete_instance()
        self.m.revoke(app_cred_id=cred.id)

    # -- EC2 and generic credentials -------------------------------------------------------------
    def create_ec2(self, user_id: str, project_id: str, ctx_is_admin: bool) -> Credential:
        self.m.get(User, user_id)
        if not isinstance(project_id, str) or not Project.get_or_none(Project.id == project_id):
            raise errors.BadRequest(f"Invalid input for field 'tenant_id': could not find project: {project_id}.")
        if not ctx_is_admin and not self.m.effective_role_ids(user_id, "project", project_id):
            raise errors.Forbidden("You have no role on the project you asked EC2 credentials for.")
        access, secret = secrets.token_hex(16), secrets.token_hex(16)
        return Credential.create(id=ec2_id(access), user_id=user_id, project_id=project_id, type="ec2",
                                 blob=json.dumps({"access": access, "secret": secret}))

    def create_credential(self, data: dict, ctx_is_admin: bool = False) -> Credential:
        self.m.get(User, data["user_id"]) if isinstance(data["user_id"], str) else None
        if not User.get_or_none(User.id == data["user_id"]):
            raise errors.BadRequest(f"Invalid input for field 'user_id': could not find user: {data['user_id']}.")
        project_id = data.get("project_id")
        if project_id and not Project.get_or_none(Project.id == project_id):
            raise errors.BadRequest(f"Invalid input for field 'project_id': could not find project: {project_id}.")
        cred_id = None
        if data["type"] == "ec2":
            try:
                blob = json.loads(data["blob"])
                access = blob["access"]
                assert isinstance(access, str) and access and isinstance(blob.get("secret", ""), str)
            except (ValueError, KeyError, TypeError, AssertionError):
                raise errors.BadRequest("Invalid input for field 'blob': an ec2 blob is a JSON object with "
                                        "string 'access' and 'secret'.") from None
            if not project_id:
                raise errors.BadRequest("Invalid input for field 'project_id': ec2 credentials need a project.")
            # an EC2 key acts on its project (S3): as with OS-EC2, the user must hold a role there
            if not ctx_is_admin and not self.m.effective_role_ids(data["user_id"], "project", project_id):
                raise errors.Forbidden("You have no role on the project you asked EC2 credentials for.")
            cred_id = ec2_id(access)
            if Credential.get_or_none(Credential.id == cred_id):
                raise conflict("credential", f"Duplicate ID, {cred_id}")
        elif data["type"] == "totp":
            try:
                if len(base64.b32decode(data["blob"].upper() + "=" * (-len(data["blob"]) % 8))) < 10:
                    raise ValueError
            except ValueError:
                raise errors.BadRequest("Invalid input for field 'blob': a totp blob is a base32 secret of at "
                                        "least 16 characters.") from None
        return Credential.create(**({"id": cred_id} if cred_id else {}), user_id=data["user_id"],
                                 project_id=project_id, type=data["type"], blob=data["blob"])

    @staticmethod
    def list_credentials(filters: dict, only_user: str | None) -> list[Credential]:
        """Credentials matching `filters` (user_id, type); only `only_user`'s when it is set."""
        query = Credential.select().order_by(Credential.created_at, Credential.id)
        if only_user is not None:
            query = query.where(Credential.user_id == only_user)
        for field, value in filters.items():
            if value:
                query = query.where(getattr(Credential, field) == value)
        return list(query)

    @staticmethod
    def find_credential(cred_id: str) -> Credential | None:
        return Credential.get_or_none(Credential.id == cred_id)

    @staticmethod
    def delete_credential(cred: Credential) -> None:
        cred.delete_instance()

    def update_credential(self, cred_id: str, data: dict) -> Credential:
        cred = self.m.get(Credential, cred_id)
        for k in ("blob", "project_id"):
            if k in data:
                setattr(cred, k, data[k])
        cred.save()
        return cred

    def ec2_by_access(self, user_id: str, access: str) -> Credential:
        cred = Credential.get_or_none((Credential.id == ec2_id(access)) & (Credential.user_id == user_id) &
                                      (Credential.type == "ec2"))
        if cred is None:
            raise not_found("credential", access)
        return cred

    def list_ec2(self, user_id: str) -> list[Credential]:
        self.m.get(User, user_id)
        return list(Credential.select().where((Credential.user_id == user_id) & (Credential.type == "ec2"))
                    .order_by(Credential.created_at))

    def delete_ec2(self, user_id: str, access: str) -> None:
        self.ec2_by_access(user_id, access).delete_instance()
