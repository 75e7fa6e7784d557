"""pytest plugin: settings/state-dir, Fernet keys and token minting, free ports, PostgreSQL URL option."""
from __future__ import annotations

import os
import socket
import time

import pytest

from appliance import config
from appliance.testing.postgres import PostgresServer
from appliance.tokens import KeyRepository, TokenData, TokenProvider, new_audit_id


def pytest_addoption(parser):
    parser.addoption("--postgres", action="store_true", default=False,
                     help="also run database-backed tests against a private PostgreSQL server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(state_dir, **overrides) -> config.Settings:
    """Settings for tests: a private state dir, no /etc/egret, cheap password hashing."""
    env = {"EGRET_CONFIG_DIR": str(state_dir / "etc")}
    base = {"state_dir": state_dir, "password_hash_log2n": 10}
    base.update(overrides)
    settings = config.load(env=env, **base)
    KeyRepository(settings.key_repository).setup()
    return settings


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "state")


class TokenMinter:
    """Issues real Fernet tokens for unit tests without going through identity."""

    def __init__(self, settings):
        self.provider = TokenProvider.from_settings(settings)

    def __call__(self, user_id="u-test", project_id="p-test", roles=("member", "reader"), *,
                 expires_in=3600, domain_id=None, system=None, is_service=False, methods=("password",)) -> str:
        now = time.time()
        data = TokenData(user_id=user_id, methods=list(methods), expires_at=now + expires_in, issued_at=now,
                         audit_ids=[new_audit_id()], project_id=None if (domain_id or system) else project_id,
                         project_domain_id="default" if project_id and not (domain_id or system) else None,
                         domain_id=domain_id, system=system, roles=list(roles), is_service=is_service)
        return self.provider.issue(data)


@pytest.fixture
def mint_token(settings):
    return TokenMinter(settings)


@pytest.fixture(scope="session")
def postgres_url(request, tmp_path_factory):
    """A fresh PostgreSQL server for the session (skips unless --postgres or EGRET_TEST_POSTGRES=1)."""
    if not (request.config.getoption("--postgres") or os.environ.get("EGRET_TEST_POSTGRES") == "1"):
        pytest.skip("PostgreSQL runs with --postgres (make test passes it); see DESIGN.md §3")
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server.url
    server.stop()
