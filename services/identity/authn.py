"""POST /v3/auth/tokens logic: auth methods, scope, roles into the token, validation that rechecks the DB."""
from __future__ import annotations

import base64
import datetime
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken as InvalidTOTP
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from appliance import errors
from appliance.tokens import TokenData, TokenError, TokenProvider, new_audit_id
from services.identity import hotpath, passwords
from services.identity.manager import Manager
from services.identity.models import AppCredential, Credential, Domain, Project, User

UNAUTHORIZED = "The request you have made requires authentication."


class AuthFailed(errors.Unauthorized):
    """401 for bad credentials; the message never says which part was wrong."""

    def __init__(self, message: str = UNAUTHORIZED):
        super().__init__(message)


def keystone_time(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def totp_ok(secret: str, passcode: str, now: float | None = None) -> bool:
    """RFC 6238, 6 digits, 30 s step, one step of drift either way (as Keystone allows)."""
    try:
        key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except ValueError:
        return False
    now = time.time() if now is None else now
    totp = TOTP(key, 6, SHA1(), 30, enforce_key_length=False)
    for drift in (0, -30, 30):
        try:
            totp.verify(passcode.encode(), int(now + drift))
            return True
        except InvalidTOTP:
            continue
    return False


class Authenticator:
    def __init__(self, manager: Manager, provider: TokenProvider):
        self.m = manager
        self.provider = provider
        self.settings = manager.settings

    def _dummy_hash(self) -> str:
        if getattr(self, "_dummy", None) is None:
            self._dummy = passwords.hash_secret("not-a-password", self.settings.password_hash_log2n)
        return self._dummy

    # -- identity methods ------------------------------------------------------------------------
    def _user_enabled(self, user) -> None:
        domain = getattr(user, "_domain", None) or Domain.get_or_none(Domain.id == user.domain_id)
        if not user.enabled or domain is None or not domain.enabled:
            raise AuthFailed()
        user._domain = domain

    def _lookup_user(self, ref) -> User:
        if not isinstance(ref, dict):
            raise errors.BadRequest("Invalid input for field 'identity/user': expected an object.")
        try:
            return self.m.user_by_ref(ref)
        except errors.NotFound:
            raise AuthFailed() from None

    def authenticate(self, body: dict) -> tuple[TokenData, dict]:
        """Check the identity part; returns (token data, extra render info)."""
        identity = body["auth"]["identity"]
        methods = identity["methods"]
        for method in methods:
            if method not in ("password", "token", "application_credential", "totp"):
                raise AuthFailed(f"Attempted to authenticate with an unsupported method: {method}.")
            if not isinstance(identity.get(method), dict):
                raise errors.BadRequest(f"Invalid input for field 'identity/{method}': expected an object.")
        now = time.time()
        expires = now + self.settings.token_expiration
        user = None
        audit_ids = [new_audit_id()]
        app_cred = None
        if "token" in methods:
            try:
                old = self.provider.validate(str(identity["token"].get("id") or ""))
            except TokenError:
                raise AuthFailed() from None
            if old.app_cred_id:
                raise errors.Forbidden("A token created with an application credential cannot be rescoped.")
            user = hotpath.user(old.user_id)
            if user is None:
                raise AuthFailed()
            expires = old.expires_at  # a rescoped token never outlives the original
            audit_ids.append(old.audit_chain_id)
            methods = list(dict.fromkeys(old.methods + [m for m in methods if m != "token"]))
        if "password" in methods and "password" in identity:
            ref = identity["password"].get("user")
            try:
                pw_user = self._lookup_user(ref)
            except AuthFailed:
                # hash anyway, so the answer time does not tell unknown users from wrong passwords
                passwords.check_secret(str(ref.get("password")), self._dummy_hash())
                raise
            if not passwords.check_secret(ref.get("password"), pw_user.password_hash):
                raise AuthFailed()
            user = self._same_user(user, pw_user)
        if "application_credential" in identity:
            app_cred, ac_user = self._app_cred(identity["application_credential"])
            user = self._same_user(user, ac_user)
            if app_cred.expires_at is not None:
                expires = min(expires, app_cred.expires_at.replace(tzinfo=datetime.timezone.utc).timestamp())
        if "totp" in identity:
            ref = identity["totp"].get("user")
            totp_user = self._lookup_user(ref)
            passcode = ref.get("passcode")
            secrets_ = [c.blob for c in Credential.select().where((Credential.user_id == totp_user.id) &
                                                                   (Credential.type == "totp"))]
            if not isinstance(passcode, str) or not any(totp_ok(s, passcode, now) for s in secrets_):
                raise AuthFailed()
            user = self._same_user(user, totp_user)
        if user is None:
            raise AuthFailed()
        self._user_enabled(user)
        # multi-factor: a user with a TOTP credential must also present a passcode with a password
        if "password" in methods and "totp" not in methods and "token" not in identity and Credential.select().where(
                (Credential.user_id == user.id) & (Credential.type == "totp")).exists():
            raise AuthFailed("Insufficient auth methods received for user: password and totp are required.")
        data = TokenData(user_id=user.id, user_domain_id=user.domain_id, methods=list(methods),
                         expires_at=expires, issued_at=now, audit_ids=audit_ids,
                         app_cred_id=app_cred.id if app_cred else None)
        data._user = user
        if app_cred is not None:
            if body["auth"].get("scope") not in (None, {}) and not self._scope_is_project(
                    body["auth"]["scope"], app_cred.project_id):
                raise AuthFailed("Application credentials cannot request a scope.")
            project = hotpath.project(app_cred.project_id)
            if project is None or not project.enabled or not (project._domain and project._domain.enabled):
                raise AuthFailed(f"Project {app_cred.project_id} is disabled.")
            data.project_id, data.project_domain_id, data._project = project.id, project.domain_id, project
        else:
            self._apply_scope(data, user, body["auth"].get("scope"))
        self.fill_roles(data)
        return data, {"user": user}

    def _scope_is_project(self, scope, project_id) -> bool:
        return isinstance(scope, dict) and isinstance(scope.get("project"), dict) and \
            scope["project"].get("id") == project_id

    def _same_user(self, current, other):
        if current is not None and current.id != other.id:
            raise AuthFailed("Multiple auth methods named different users.")
        return other

    def _app_cred(self, ref: dict):
        secret = ref.get("secret")
        if not isinstance(ref.get("id", ref.get("name")), str):
            raise errors.BadRequest("Invalid input for field 'identity/application_credential': 'id' or 'name' "
                                    "must be a string.")
        if "id" in ref:
            cred = AppCredential.get_or_none(AppCredential.id == ref["id"])
        else:
            user = self._lookup_user(ref.get("user"))
            cred = AppCredential.get_or_none((AppCredential.user_id == user.id) &
                                             (AppCredential.name == ref.get("name")))
        if cred is None or not isinstance(secret, str) or not passwords.check_secret(secret, cred.secret_hash):
            raise AuthFailed()
        if cred.expires_at is not None and cred.expires_at <= datetime.datetime.utcnow():
            raise AuthFailed("The application credential has expired.")
        user = User.get_or_none(User.id == cred.user_id)
        if user is None:
            raise AuthFailed()
        return cred, user

    # -- scope -----------------------------------------------------------------------------------
    def _apply_scope(self, data: TokenData, user: User, scope) -> None:
        if scope in (None, {}, "unscoped"):
            if user.default_project_id:
                project = Project.get_or_none(Project.id == user.default_project_id)
                if project and project.enabled and self.m.effective_role_ids(user.id, "project", project.id):
                    data.project_id, data.project_domain_id = project.id, project.domain_id
            return
        if not isinstance(scope, dict):
            raise errors.BadRequest("Invalid input for field 'auth/scope': expected an object.")
        if "project" in scope:
            ref = scope["project"]
            if not isinstance(ref, dict):
                raise errors.BadRequest("Invalid input for field 'scope/project': expected an object.")
            if not isinstance(ref.get("id", ref.get("name")), str):
                raise errors.BadRequest("Invalid input for field 'scope/project': 'id' or 'name' must be a string.")
            if "id" in ref:
                project = Project.get_or_none(Project.id == ref["id"])
            else:
                try:
                    domain = self.m.domain_by_name_or_id(ref.get("domain") or {})
                except errors.NotFound:
                    raise AuthFailed() from None
                project = Project.get_or_none((Project.domain_id == domain.id) & (Project.name == ref.get("name")))
            if project is None:
                raise AuthFailed(f"Could not find project: {ref.get('id') or ref.get('name')}.")
            domain = Domain.get_or_none(Domain.id == project.domain_id)
            if not project.enabled or domain is None or not domain.enabled:
                raise AuthFailed(f"Project {project.id} is disabled.")
            data.project_id, data.project_domain_id = project.id, project.domain_id
            data._project = project
        elif "domain" in scope:
            try:
                domain = self.m.domain_by_name_or_id(scope["domain"] if isinstance(scope["domain"], dict) else {})
            except errors.NotFound:
                raise AuthFailed() from None
            if not domain.enabled:
                raise AuthFailed(f"Domain {domain.id} is disabled.")
            data.domain_id = domain.id
        elif "system" in scope:
            if scope["system"] != {"all": True}:
                raise errors.BadRequest("Invalid input for field 'scope/system': only {\"all\": true} exists.")
            data.system = "all"
        else:
            raise errors.BadRequest("Invalid input for field 'auth/scope': expected project, domain or system.")

    def fill_roles(self, data: TokenData) -> None:
        """Roles for the token's scope from the DB (implied roles expanded); 401 if none."""
        if data.scope == "unscoped":
            data.roles = []
            return
        target = {"project": data.project_id, "domain": data.domain_id, "system": data.system}[data.scope]
        names = hotpath.effective_roles(data.user_id, data.scope, target)
        if data.app_cred_id:
            cred = AppCredential.get_or_none(AppCredential.id == data.app_cred_id)
            if cred is None:
                raise AuthFailed()
            allowed = self.m.expand_roles(set(cred.roles))
            names = {rid: name for rid, name in names.items() if rid in allowed}
        if not names:
            raise AuthFailed(f"User {data.user_id} has no access to {data.scope} {target}.")
        data.roles = sorted(names.values())
        data.is_service = "service" in data.roles
        data._role_refs = [{"id": rid, "name": names[rid]} for rid in sorted(names, key=names.get)]

    # -- validation ------------------------------------------------------------------------------
    def validate(self, token: str) -> TokenData:
        """Decrypt, check revocations, then recompute from the DB (user/project enabled, roles)."""
        try:
            data = self.provider.validate(token)
        except TokenError as exc:
            raise errors.NotFound(f"Could not find token: {exc}") from None
        user = hotpath.user(data.user_id)
        try:
            if user is None or not user.enabled or user._domain is None or not user._domain.enabled:
                raise AuthFailed()
            data._user = user
            if data.project_id:
                project = hotpath.project(data.project_id)
                if project is None or not project.enabled or not (project._domain and project._domain.enabled):
                    raise AuthFailed()
                data._project = project
            if data.domain_id:
                domain = Domain.get_or_none(Domain.id == data.domain_id)
                if domain is None or not domain.enabled:
                    raise AuthFailed()
            self.fill_roles(data)
        except errors.Unauthorized:
            raise errors.NotFound("Could not find token: it is no longer valid.") from None
        return data

    # -- rendering -------------------------------------------------------------------------------
    def render(self, data: TokenData, *, catalog: bool) -> dict:
        user = getattr(data, "_user", None) or User.get(User.id == data.user_id)
        domain = getattr(user, "_domain", None) or Domain.get_or_none(Domain.id == user.domain_id)
        token = {
            "methods": data.methods,
            "user": {"id": user.id, "name": user.name,
                     "domain": {"id": user.domain_id, "name": domain.name if domain else ""},
                     "password_expires_at": None},
            "audit_ids": data.audit_ids,
            "expires_at": keystone_time(data.expires_at),
            "issued_at": keystone_time(data.issued_at),
        }
        if data.project_id:
            project = getattr(data, "_project", None) or Project.get(Project.id == data.project_id)
            pdomain = getattr(project, "_domain", None) or (domain if project.domain_id == user.domain_id else
                                                            Domain.get_or_none(Domain.id == project.domain_id))
            token["project"] = {"id": project.id, "name": project.name,
                                "domain": {"id": project.domain_id, "name": pdomain.name if pdomain else ""}}
            token["is_domain"] = False
        elif data.domain_id:
            d = Domain.get(Domain.id == data.domain_id)
            token["domain"] = {"id": d.id, "name": d.name}
        elif data.system:
            token["system"] = {"all": True}
        if data.scope != "unscoped":
            token["roles"] = getattr(data, "_role_refs", [])
            if catalog:
                token["catalog"] = self.m.catalog.document(data.project_id)
        if data.app_cred_id:
            cred = AppCredential.get_or_none(AppCredential.id == data.app_cred_id)
            if cred is not None:
                token["application_credential"] = {"id": cred.id, "name": cred.name,
                                                   "restricted": not cred.unrestricted}
        return {"token": token}
