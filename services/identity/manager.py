"""Identity logic: resources, assignments, effective roles, revocation events. Views call only this."""
from __future__ import annotations

import peewee

from appliance import errors
from appliance.revocation import RevocationList
from services.identity import passwords
from services.identity.catalog import Catalog
from services.identity.models import (AppCredential, Assignment, Credential, Domain, Endpoint, Group,
                                      ImpliedRole, Membership, Project, Region, Role, Service, User, database)
from services.identity.refusals import conflict, not_found


PROJECT_FIELDS = {"id", "name", "description", "enabled", "tags", "parent_id", "domain_id", "is_domain", "options",
                  "links"}
USER_FIELDS = {"id", "name", "description", "enabled", "email", "default_project_id", "domain_id", "password",
               "options", "links", "password_expires_at"}


def _extra(data: dict, known: set) -> dict:
    """Keystone keeps unknown attributes of projects and users (`openstack project create --property k=v`)."""
    return {k: v for k, v in data.items() if k not in known and isinstance(v, (str, int, float, bool, type(None)))}


# the resources views name by kind (views never see the models)
KINDS = {"domain": Domain, "project": Project, "user": User, "group": Group, "role": Role, "region": Region,
         "service": Service, "endpoint": Endpoint}


class Manager:
    """Domains, projects, users, groups, roles, assignments, revocations; the catalog is a collaborator."""

    def __init__(self, settings):
        self.settings = settings
        self.revocations = RevocationList(settings.revocation_file, settings.token_expiration,
                                          legacy=settings.legacy_revocation_file)
        self.catalog = Catalog(self)

    # -- generic helpers -------------------------------------------------------------------------
    def get(self, model, ident, kind: str | None = None):
        kind = kind or model.__name__.lower()
        if not isinstance(ident, str):
            raise not_found(kind, ident)
        obj = model.get_or_none(model.id == ident)
        if obj is None:
            raise not_found(kind, ident)
        return obj

    def show(self, kind: str, ident):
        """One resource of a kind in KINDS ("project", "user", ...); 404 if unknown."""
        return self.get(KINDS[kind], ident)

    def list(self, kind: str, filters: dict, order=None):
        """Resources of a kind in KINDS whose columns equal the filters (booleans parsed as query strings do)."""
        model = KINDS[kind]
        query = model.select()
        for field, value in filters.items():
            if value is None:
                continue
            column = getattr(model, field)
            if isinstance(column, peewee.BooleanField):
                value = str(value).lower() not in ("false", "0", "no", "off")
            query = query.where(column == value)
        return list(query.order_by(order or model.created_at, model.id))

    def revoke(self, **fields) -> None:
        self.revocations.revoke(**fields)

    # -- domains ---------------------------------------------------------------------------------
    def create_domain(self, data: dict) -> Domain:
        if Domain.get_or_none(Domain.name == data["name"]):
            raise conflict("domain", f"Duplicate entry found with name {data['name']}")
        with database.atomic():
            kw = {k: data[k] for k in ("name", "description", "enabled") if k in data}
            if data.get("id"):
                kw["id"] = data["id"]
            return Domain.create(**kw)

    def update_domain(self, domain_id: str, data: dict) -> Domain:
        domain = self.get(Domain, domain_id)
        if "name" in data and data["name"] != domain.name and Domain.get_or_none(Domain.name == data["name"]):
            raise conflict("domain", f"Duplicate entry found with name {data['name']}")
        disabling = domain.enabled and data.get("enabled") is False
        for k in ("name", "description", "enabled"):
            if k in data:
                setattr(domain, k, data[k])
        domain.save()
        if disabling:
            self._revoke_domain(domain.id)
        return domain

    def delete_domain(self, domain_id: str) -> None:
        domain = self.get(Domain, domain_id)
        if domain.enabled:
            raise errors.Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        with database.atomic():
            for project in Project.select().where(Project.domain_id == domain.id):
                self._delete_project_rows(project)
            for user in User.select().where(User.domain_id == domain.id):
                self._delete_user_rows(user)
            for group in Group.select().where(Group.domain_id == domain.id):
                self._delete_group_rows(group)
            Assignment.delete().where((Assignment.target_type == "domain") &
                                      (Assignment.target_id == domain.id)).execute()
            Role.delete().where(Role.domain_id == domain.id).execute()
            domain.delete_instance()
        self._revoke_domain(domain.id)

    def _revoke_domain(self, domain_id: str) -> None:
        self.revoke(domain_id=domain_id)
        for user in User.select(User.id).where(User.domain_id == domain_id):
            self.revoke(user_id=user.id)

    def domain_by_name_or_id(self, ref: dict) -> Domain:
        if not isinstance(ref, dict):
            raise not_found("domain", ref)
        if "id" in ref:
            return self.get(Domain, ref["id"])
        if not isinstance(ref.get("name"), str):
            raise not_found("domain", ref.get("name"))
        domain = Domain.get_or_none(Domain.name == ref.get("name"))
        if domain is None:
            raise not_found("domain", ref.get("name"))
        return domain

    # -- projects --------------------------------------------------------------------------------
    def create_project(self, data: dict) -> Project:
        domain_id = data.get("domain_id") or "default"
        if data.get("parent_id"):
            parent = self.get(Project, data["parent_id"], "project")
            if "domain_id" in data and data["domain_id"] != parent.domain_id:
                raise errors.BadRequest("Invalid input for field 'domain_id': the parent's domain differs.")
            domain_id = parent.domain_id
        self._domain_for_write(domain_id)
        if Project.get_or_none((Project.domain_id == domain_id) & (Project.name == data["name"])):
            raise conflict("project", f"Duplicate entry found with name {data['name']} at domain ID {domain_id}")
        kw = {k: data[k] for k in ("name", "description", "enabled", "tags", "parent_id") if k in data}
        with database.atomic():
            return Project.create(domain_id=domain_id, extra=_extra(data, PROJECT_FIELDS), **kw)

    def _domain_for_write(self, domain_id: str) -> Domain:
        domain = Domain.get_or_none(Domain.id == domain_id)
        if domain is None:
            raise errors.BadRequest(f"Invalid input for field 'domain_id': could not find domain: {domain_id}.")
        return domain

    def update_project(self, project_id: str, data: dict) -> Project:
        project = self.get(Project, project_id)
        if "domain_id" in data and data["domain_id"] != project.domain_id:
            raise errors.BadRequest("Invalid input for field 'domain_id': a project cannot move between domains.")
        if "name" in data and data["name"] != project.name and Project.get_or_none(
                (Project.domain_id == project.domain_id) & (Project.name == data["name"])):
            raise conflict("project", f"Duplicate entry found with name {data['name']} at domain ID "
                                      f"{project.domain_id}")
        disabling = project.enabled and data.get("enabled") is False
        for k in ("name", "description", "enabled", "tags"):
            if k in data:
                setattr(project, k, data[k])
        project.extra = {**(project.extra or {}), **_extra(data, PROJECT_FIELDS)}
        project.save()
        if disabling:
            self.revoke(project_id=project.id)
        return project

    def delete_project(self, project_id: str) -> None:
        project = self.get(Project, project_id)
        if Project.get_or_none(Project.parent_id == project.id):
            raise errors.Forbidden(f"Cannot delete project {project.id}: it has child projects.")
        with database.atomic():
            self._delete_project_rows(project)
        self.revoke(project_id=project.id)

    def _delete_project_rows(self, project: Project) -> None:
        Assignment.delete().where((Assignment.target_type == "project") &
                                  (Assignment.target_id == project.id)).execute()
        AppCredential.delete().where(AppCredential.project_id == project.id).execute()
        Credential.delete().where(Credential.project_id == project.id).execute()
        project.delete_instance()

    # -- users -----------------------------------------------------------------------------------
    def create_user(self, data: dict) -> User:
        domain_id = data.get("domain_id") or "default"
        self._domain_for_write(domain_id)
        if data.get("default_project_id") and not Project.get_or_none(Project.id == data["default_project_id"]):
            raise errors.BadRequest("Invalid input for field 'default_project_id': could not find project: "
                                    f"{data['default_project_id']}.")
        if User.get_or_none((User.domain_id == domain_id) & (User.name == data["name"])):
            raise conflict("user", f"Duplicate entry found with name {data['name']} at domain ID {domain_id}")
        kw = {k: data[k] for k in ("name", "description", "enabled", "email", "default_project_id") if k in data}
        kw["extra"] = _extra(data, USER_FIELDS)
        if data.get("password") is not None:
            kw["password_hash"] = passwords.hash_secret(data["password"], self.settings.password_hash_log2n)
        with database.atomic():
            return User.create(domain_id=domain_id, **kw)

    def update_user(self, user_id: str, data: dict) -> User:
        user = self.get(User, user_id)
        if "domain_id" in data and data["domain_id"] != user.domain_id:
            raise errors.BadRequest("Invalid input for field 'domain_id': a user cannot move between domains.")
        if "name" in data and data["name"] != user.name and User.get_or_none(
                (User.domain_id == user.domain_id) & (User.name == data["name"])):
            raise conflict("user", f"Duplicate entry found with name {data['name']} at domain ID {user.domain_id}")
        if data.get("default_project_id") and not Project.get_or_none(Project.id == data["default_project_id"]):
            raise errors.BadRequest("Invalid input for field 'default_project_id': could not find project: "
                                    f"{data['default_project_id']}.")
        revoke = (user.enabled and data.get("enabled") is False) or "password" in data
        for k in ("name", "description", "enabled", "email", "default_project_id"):
            if k in data:
                setattr(user, k, data[k])
        user.extra = {**(user.extra or {}), **_extra(data, USER_FIELDS)}
        if "password" in data:
            user.password_hash = (passwords.hash_secret(data["password"], self.settings.password_hash_log2n)
                                  if data["password"] is not None else None)
        user.save()
        if revoke:
            self.revoke(user_id=user.id)
        return user

    def change_password(self, user_id: str, original: str, new: str) -> None:
        user = self.get(User, user_id)
        if not passwords.check_secret(original, user.password_hash):
            raise errors.Unauthorized("The request you have made requires authentication.")
        user.password_hash = passwords.hash_secret(new, self.settings.password_hash_log2n)
        user.save()
        self.revoke(user_id=user.id)

    def delete_user(self, user_id: str) -> None:
        user = self.get(User, user_id)
        with database.atomic():
            self._delete_user_rows(user)
        self.revoke(user_id=user.id)

    def _delete_user_rows(self, user: User) -> None:
        Assignment.delete().where((Assignment.actor_type == "user") & (Assignment.actor_id == user.id)).execute()
        Membership.delete().where(Membership.user_id == user.id).execute()
        AppCredential.delete().where(AppCredential.user_id == user.id).execute()
        Credential.delete().where(Credential.user_id == user.id).execute()
        user.delete_instance()

    def user_by_ref(self, ref: dict) -> User:
        """A user from {"id"} or {"name", "domain": {"id"|"name"}} as auth bodies name it."""
        if "id" in ref:
            return self.get(User, ref["id"])
        if not isinstance(ref.get("name"), str):
            raise not_found("user", ref.get("name"))
        domain = self.domain_by_name_or_id(ref.get("domain") or {})
        user = User.get_or_none((User.domain_id == domain.id) & (User.name == ref.get("name")))
        if user is None:
            raise not_found("user", ref.get("name"))
        return user

    # -- groups ----------------------------------------------------------------------------------
    def create_group(self, data: dict) -> Group:
        domain_id = data.get("domain_id") or "default"
        self._domain_for_write(domain_id)
        if Group.get_or_none((Group.domain_id == domain_id) & (Group.name == data["name"])):
            raise conflict("group", f"Duplicate entry found with name {data['name']} at domain ID {domain_id}")
        return Group.create(domain_id=domain_id, name=data["name"], description=data.get("description", ""))

    def update_group(self, group_id: str, data: dict) -> Group:
        group = self.get(Group, group_id)
        if "name" in data and data["name"] != group.name and Group.get_or_none(
                (Group.domain_id == group.domain_id) & (Group.name == data["name"])):
            raise conflict("group", f"Duplicate entry found with name {data['name']} at domain ID "
                                    f"{group.domain_id}")
        for k in ("name", "description"):
            if k in data:
                setattr(group, k, data[k])
        group.save()
        return group

    def delete_group(self, group_id: str) -> None:
        group = self.get(Group, group_id)
        members = [m.user_id for m in Membership.select().where(Membership.group_id == group.id)]
        had_roles = Assignment.select().where((Assignment.actor_type == "group") &
                                              (Assignment.actor_id == group.id)).exists()
        with database.atomic():
            self._delete_group_rows(group)
        if had_roles:
            for uid in members:
                self.revoke(user_id=uid)

    def _delete_group_rows(self, group: Group) -> None:
        Assignment.delete().where((Assignment.actor_type == "group") & (Assignment.actor_id == group.id)).execute()
        Membership.delete().where(Membership.group_id == group.id).execute()
        group.delete_instance()

    def add_member(self, group_id: str, user_id: str) -> None:
        self.get(Group, group_id)
        self.get(User, user_id)
        if not Membership.get_or_none((Membership.group_id == group_id) & (Membership.user_id == user_id)):
            Membership.create(group_id=group_id, user_id=user_id)

    def remove_member(self, group_id: str, user_id: str) -> None:
        self.get(Group, group_id)
        self.get(User, user_id)
        deleted = Membership.delete().where((Membership.group_id == group_id) &
                                            (Membership.user_id == user_id)).execute()
        if not deleted:
            raise errors.NotFound(f"Could not find membership of user {user_id} in group {group_id}.")
        self.revoke(user_id=user_id)

    def is_member(self, group_id: str, user_id: str) -> bool:
        self.get(Group, group_id)
        self.get(User, user_id)
        return Membership.select().where((Membership.group_id == group_id) &
                                         (Membership.user_id == user_id)).exists()

    def user_groups(self, user_id: str) -> list[Group]:
        self.get(User, user_id)
        return list(Group.select().join(Membership, on=(Membership.group_id == Group.id))
                    .where(Membership.user_id == user_id).order_by(Group.name))

    def group_users(self, group_id: str) -> list[User]:
        self.get(Group, group_id)
        return list(User.select().join(Membership, on=(Membership.user_id == User.id))
                    .where(Membership.group_id == group_id).order_by(User.name))

    # -- roles -----------------------------------------------------------------------------------
    def create_role(self, data: dict) -> Role:
        domain_id = data.get("domain_id")
        if domain_id:
            self._domain_for_write(domain_id)
        if Role.get_or_none((Role.name == data["name"]) & (Role.domain_id == domain_id if domain_id
                                                            else Role.domain_id.is_null())):
            raise conflict("role", f"Duplicate entry found with name {data['name']}")
        return Role.create(name=data["name"], domain_id=domain_id, description=data.get("description", ""))

    def update_role(self, role_id: str, data: dict) -> Role:
        role = self.get(Role, role_id)
        if "name" in data and data["name"] != role.name and Role.get_or_none(
                (Role.name == data["name"]) & (Role.domain_id == role.domain_id if role.domain_id
                                               else Role.domain_id.is_null())):
            raise conflict("role", f"Duplicate entry found with name {data['name']}")
        for k in ("name", "description"):
            if k in data:
                setattr(role, k, data[k])
        role.save()
        return role

    def delete_role(self, role_id: str) -> None:
        role = self.get(Role, role_id)
        holders = list(Assignment.select().where(Assignment.role_id == role.id))
        with database.atomic():
            Assignment.delete().where(Assignment.role_id == role.id).execute()
            ImpliedRole.delete().where((ImpliedRole.prior_role_id == role.id) |
                                       (ImpliedRole.implied_role_id == role.id)).execute()
            role.delete_instance()
        for a in holders:
            self._revoke_assignment(a)

    def add_implied(self, prior_id: str, implied_id: str) -> ImpliedRole:
        self.get(Role, prior_id)
        self.get(Role, implied_id)
        if prior_id == implied_id or prior_id in self.expand_roles({implied_id}):
            raise errors.BadRequest("Invalid input for field 'implied_role': it would create a cycle.")
        existing = ImpliedRole.get_or_none((ImpliedRole.prior_role_id == prior_id) &
                                           (ImpliedRole.implied_role_id == implied_id))
        return existing or ImpliedRole.create(prior_role_id=prior_id, implied_role_id=implied_id)

    def implied_roles(self, prior_id: str) -> tuple[Role, list[Role]]:
        """The prior role and the roles it implies directly."""
        prior = self.get(Role, prior_id)
        return prior, [self.get(Role, r.implied_role_id) for r in
                       ImpliedRole.select().where(ImpliedRole.prior_role_id == prior.id)]

    def role_inferences(self) -> list[tuple[Role, list[Role]]]:
        """Every prior role with the roles it implies, in the order the rules were made."""
        roles = {r.id: r for r in Role.select()}
        grouped: dict[str, list] = {}
        for rule in ImpliedRole.select().order_by(ImpliedRole.created_at):
            if rule.prior_role_id in roles and rule.implied_role_id in roles:
                grouped.setdefault(rule.prior_role_id, []).append(roles[rule.implied_role_id])
        return [(roles[p], implied) for p, implied in grouped.items()]

    def check_implied(self, prior_id: str, implied_id: str) -> None:
        self.get(Role, prior_id), self.get(Role, implied_id)
        if not ImpliedRole.get_or_none((ImpliedRole.prior_role_id == prior_id) &
                                       (ImpliedRole.implied_role_id == implied_id)):
            raise errors.NotFound(f"Could not find implied role: {prior_id} implies {implied_id}.")

    def delete_implied(self, prior_id: str, implied_id: str) -> None:
        deleted = ImpliedRole.delete().where((ImpliedRole.prior_role_id == prior_id) &
                                             (ImpliedRole.implied_role_id == implied_id)).execute()
        if not deleted:
            raise errors.NotFound(f"Could not find implied role: {prior_id} implies {implied_id}.")

    def expand_roles(self, role_ids: set[str]) -> set[str]:
        """Role ids plus everything they imply, transitively (admin ⊃ member ⊃ reader)."""
        rules: dict[str, list[str]] = {}
        for rule in ImpliedRole.select():
            rules.setdefault(rule.prior_role_id, []).append(rule.implied_role_id)
        result, todo = set(role_ids), list(role_ids)
        while todo:
            for implied in rules.get(todo.pop(), ()):
                if implied not in result:
                    result.add(implied)
                    todo.append(implied)
        return result

    # -- assignments -----------------------------------------------------------------------------
    def _check_assignment_refs(self, actor_type, actor_id, target_type, target_id, role_id):
        self.get(User if actor_type == "user" else Group, actor_id)
        if target_type == "project":
            self.get(Project, target_id)
        elif target_type == "domain":
            self.get(Domain, target_id)
        elif target_id != "all":
            raise not_found("system", target_id)
        self.get(Role, role_id)

    def grant(self, actor_type, actor_id, target_type, target_id, role_id) -> None:
        self._check_assignment_refs(actor_type, actor_id, target_type, target_id, role_id)
        key = dict(actor_type=actor_type, actor_id=actor_id, target_type=target_type, target_id=target_id,
                   role_id=role_id)
        if not Assignment.get_or_none(*[getattr(Assignment, k) == v for k, v in key.items()]):
            Assignment.create(**key)

    def find_grant(self, actor_type, actor_id, target_type, target_id, role_id) -> Assignment:
        self._check_assignment_refs(actor_type, actor_id, target_type, target_id, role_id)
        found = Assignment.get_or_none((Assignment.actor_type == actor_type) & (Assignment.actor_id == actor_id) &
                                       (Assignment.target_type == target_type) &
                                       (Assignment.target_id == target_id) & (Assignment.role_id == role_id))
        if found is None:
            raise errors.NotFound(f"Could not find role assignment with role: {role_id}, {actor_type}: "
                                  f"{actor_id}, {target_type}: {target_id}.")
        return found

    def revoke_grant(self, actor_type, actor_id, target_type, target_id, role_id) -> None:
        found = self.find_grant(actor_type, actor_id, target_type, target_id, role_id)
        found.delete_instance()
        self._revoke_assignment(found)

    def _revoke_assignment(self, a: Assignment) -> None:
        users = [a.actor_id] if a.actor_type == "user" else [
            m.user_id for m in Membership.select().where(Membership.group_id == a.actor_id)]
        for uid in users:
            if a.target_type == "project":
                self.revoke(user_id=uid, project_id=a.target_id)
            elif a.target_type == "domain":
                self.revoke(user_id=uid, domain_id=a.target_id)
            else:
                self.revoke(user_id=uid)

    def grants_for(self, actor_type, actor_id, target_type, target_id) -> list[Role]:
        self.get(User if actor_type == "user" else Group, actor_id)
        self.get(Project if target_type == "project" else Domain, target_id) if target_type != "system" else None
        ids = [a.role_id for a in Assignment.select().where(
            (Assignment.actor_type == actor_type) & (Assignment.actor_id == actor_id) &
            (Assignment.target_type == target_type) & (Assignment.target_id == target_id))]
        return list(Role.select().where(Role.id.in_(ids)).order_by(Role.name)) if ids else []

    def _actor_clause(self, user_id: str):
        groups = Membership.select(Membership.group_id).where(Membership.user_id == user_id)
        return ((Assignment.actor_type == "user") & (Assignment.actor_id == user_id)) | (
            (Assignment.actor_type == "group") & (Assignment.actor_id.in_(groups)))

    def effective_role_ids(self, user_id: str, target_type: str, target_id: str) -> set[str]:
        direct = {a.role_id for a in Assignment.select(Assignment.role_id).where(
            self._actor_clause(user_id) & (Assignment.target_type == target_type) &
            (Assignment.target_id == target_id))}
        return self.expand_roles(direct) if direct else set()

    def user_targets(self, user_id: str, target_type: str) -> list[str]:
        """Ids of projects/domains where the user holds any role, directly or through a group."""
        return sorted({a.target_id for a in Assignment.select(Assignment.target_id).where(
            self._actor_clause(user_id) & (Assignment.target_type == target_type))})

    def scoped_targets(self, user_id: str, kind: str) -> list:
        """The enabled projects or domains (kind) the user may scope a token to: /v3/auth/projects|domains."""
        model = KINDS[kind]
        ids = self.user_targets(user_id, kind)
        return list(model.select().where(model.id.in_(ids) & (model.enabled == True))) if ids else []  # noqa: E712

    def user_projects(self, user_id: str) -> list[Project]:
        """Projects where the user holds a role, enabled or not, by name: /v3/users/<id>/projects."""
        self.get(User, user_id)
        ids = self.user_targets(user_id, "project")
        return list(Project.select().where(Project.id.in_(ids)).order_by(Project.name)) if ids else []

    def list_assignments(self, filters: dict, effective: bool) -> list[dict]:
        """Rows {actor_type, actor_id, target_type, target_id, role_id[, group_id]} after filters."""
        rows = [dict(actor_type=a.actor_type, actor_id=a.actor_id, target_type=a.target_type,
                     target_id=a.target_id, role_id=a.role_id) for a in Assignment.select()]
        if effective:
            expanded = []
            for row in rows:
                if row["actor_type"] == "group":
                    for m in Membership.select().where(Membership.group_id == row["actor_id"]):
                        expanded.append({**row, "actor_type": "user", "actor_id": m.user_id,
                                         "via_group": row["actor_id"]})
                else:
                    expanded.append(row)
            rows = []
            for row in expanded:  # implied roles appear as their own assignments in effective mode
                for rid in self.expand_roles({row["role_id"]}):
                    rows.append({**row, "role_id": rid, **({"prior_role": row["role_id"]}
                                                           if rid != row["role_id"] else {})})
        out, seen = [], set()
        for row in rows:
            if any(row.get(k) != v for k, v in filters.items() if v is not None):
                continue
            key = (row["actor_type"], row["actor_id"], row["target_type"], row["target_id"], row["role_id"])
            if effective and key in seen:
                continue
            seen.add(key)
            out.append(row)
        return out

    def _ref(self, model, ident, with_domain=True) -> dict:
        obj = model.get_or_none(model.id == ident)
        ref = {"id": ident}
        if obj is not None:
            ref["name"] = obj.name
            if with_domain and getattr(obj, "domain_id", None):
                domain = Domain.get_or_none(Domain.id == obj.domain_id)
                ref["domain"] = {"id": obj.domain_id, "name": domain.name if domain else ""}
        return ref

    def name_assignment(self, row: dict) -> dict:
        """The row with "names": actor, role and target refs carrying names (include_names)."""
        target_type = row["target_type"]
        if target_type == "project":
            target = self._ref(Project, row["target_id"])
        elif target_type == "domain":
            target = self._ref(Domain, row["target_id"], with_domain=False)
        else:
            target = {"all": True}
        return {**row, "names": {"actor": self._ref(User if row["actor_type"] == "user" else Group, row["actor_id"]),
                                 "role": self._ref(Role, row["role_id"]), "target": target}}
