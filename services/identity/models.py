"""Identity tables: domains, projects, users, groups, roles, assignments, catalog, credentials."""
from __future__ import annotations

import peewee

from appliance.db import JSONField, model_base
from services.identity.sealing import SealedTextField


class DescriptionField(peewee.TextField):
    """A description: Keystone takes null for "none", the column keeps "" (it is NOT NULL)."""

    def db_value(self, value):
        return super().db_value("" if value is None else value)


class _KeepSqliteOpen(peewee.DatabaseProxy):
    """Keeps each thread's SQLite connection between requests: opening one (and its pragmas) cost a third
    of a token validation. PostgreSQL connections still close after each request, as the core does."""

    def close(self):
        if isinstance(self.obj, peewee.SqliteDatabase):
            return False
        return self.obj.close()


database = _KeepSqliteOpen()
Base = model_base(database)


class Domain(Base):
    name = peewee.CharField(max_length=64, unique=True)
    description = DescriptionField(default="")
    enabled = peewee.BooleanField(default=True)
    extra = JSONField(default=dict)


class Project(Base):
    name = peewee.CharField(max_length=64)
    domain_id = peewee.CharField(max_length=64, index=True)
    parent_id = peewee.CharField(max_length=64, null=True)
    description = DescriptionField(default="")
    enabled = peewee.BooleanField(default=True)
    tags = JSONField(default=list)
    extra = JSONField(default=dict)

    class Meta:
        indexes = ((("domain_id", "name"), True),)


class User(Base):
    name = peewee.CharField(max_length=255)
    domain_id = peewee.CharField(max_length=64, index=True)
    default_project_id = peewee.CharField(max_length=64, null=True)
    description = DescriptionField(default="")
    email = peewee.CharField(max_length=255, null=True)
    enabled = peewee.BooleanField(default=True)
    password_hash = peewee.TextField(null=True)
    password_expires_at = peewee.DateTimeField(null=True)
    extra = JSONField(default=dict)

    class Meta:
        indexes = ((("domain_id", "name"), True),)


class Group(Base):
    name = peewee.CharField(max_length=64)
    domain_id = peewee.CharField(max_length=64, index=True)
    description = DescriptionField(default="")

    class Meta:
        indexes = ((("domain_id", "name"), True),)


class Membership(Base):
    user_id = peewee.CharField(max_length=64, index=True)
    group_id = peewee.CharField(max_length=64, index=True)

    class Meta:
        indexes = ((("user_id", "group_id"), True),)


class Role(Base):
    name = peewee.CharField(max_length=255)
    domain_id = peewee.CharField(max_length=64, null=True)
    description = DescriptionField(default="")

    class Meta:
        indexes = ((("name", "domain_id"), True),)


class ImpliedRole(Base):
    prior_role_id = peewee.CharField(max_length=64, index=True)
    implied_role_id = peewee.CharField(max_length=64)

    class Meta:
        indexes = ((("prior_role_id", "implied_role_id"), True),)


class Assignment(Base):
    # actor_type: user|group; target_type: project|domain|system (target_id "all" for system)
    actor_type = peewee.CharField(max_length=8)
    actor_id = peewee.CharField(max_length=64, index=True)
    target_type = peewee.CharField(max_length=8)
    target_id = peewee.CharField(max_length=64, index=True)
    role_id = peewee.CharField(max_length=64, index=True)

    class Meta:
        indexes = ((("actor_type", "actor_id", "target_type", "target_id", "role_id"), True),)


class Region(Base):
    description = DescriptionField(default="")
    parent_region_id = peewee.CharField(max_length=255, null=True)


class Service(Base):
    type = peewee.CharField(max_length=255, index=True)
    name = peewee.CharField(max_length=255, default="")
    description = DescriptionField(default="")
    enabled = peewee.BooleanField(default=True)


class Endpoint(Base):
    service_id = peewee.CharField(max_length=64, index=True)
    interface = peewee.CharField(max_length=8)
    region_id = peewee.CharField(max_length=255, null=True)
    url = peewee.TextField()
    enabled = peewee.BooleanField(default=True)


class AppCredential(Base):
    name = peewee.CharField(max_length=255)
    user_id = peewee.CharField(max_length=64, index=True)
    project_id = peewee.CharField(max_length=64)
    description = DescriptionField(default="")
    secret_hash = peewee.TextField()
    roles = JSONField(default=list)  # role ids
    expires_at = peewee.DateTimeField(null=True)
    unrestricted = peewee.BooleanField(default=False)

    class Meta:
        indexes = ((("user_id", "name"), True),)


class Credential(Base):
    user_id = peewee.CharField(max_length=64, index=True)
    project_id = peewee.CharField(max_length=64, null=True)
    type = peewee.CharField(max_length=255)
    blob = SealedTextField()
    extra = JSONField(default=dict)


ALL_MODELS = [Domain, Project, User, Group, Membership, Role, ImpliedRole, Assignment, Region, Service,
              Endpoint, AppCredential, Credential]
