"""Step 1: the admin account: password strength, optional TOTP enrolment verified with a code."""
from __future__ import annotations

import base64
import io
import secrets
import time

import segno
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from firstboot.steps import StepError, check_schema

NAME = "admin"
TITLE = "Admin account"
SCHEMA = {
    "type": "object",
    "properties": {
        "password": {"type": "string", "maxLength": 256},
        "password_confirm": {"type": "string", "maxLength": 256},
        "totp": {"type": "boolean"},
        "totp_code": {"type": "string", "maxLength": 10},
    },
    "required": ["password", "password_confirm"],
    "additionalProperties": False,
}

# the few passwords every attacker tries first; length and variety rules catch the rest
COMMON = {"password", "passw0rd", "123456789012", "qwertyuiop", "letmein", "administrator", "changeme",
          "welcome", "iloveyou", "password123", "admin12345", "openstack", "egret", "secret"}


def password_problem(password: str, context_words=()) -> str | None:
    """Why a password is too weak, or None. At least 12 characters and 3 kinds, or 16+ characters."""
    if len(password) < 12:
        return "Use at least 12 characters."
    lowered = password.lower()
    if lowered in COMMON or any(w and w in lowered for w in ("password", "egret", "admin", *context_words)):
        return "Do not use a common word, 'admin' or the product name in the password."
    if len(set(password)) < 6:
        return "Use more different characters."
    kinds = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    if kinds < 3 and len(password) < 16:
        return "Mix at least three of: lower case, upper case, digits, symbols (or use 16+ characters)."
    return None


def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()


def _totp(secret_b32: str) -> TOTP:
    return TOTP(base64.b32decode(secret_b32), 6, SHA1(), 30, enforce_key_length=False)


def totp_uri(secret_b32: str, account: str = "admin") -> str:
    return _totp(secret_b32).get_provisioning_uri(account, "Egret")


def totp_qr_svg(secret_b32: str) -> str:
    out = io.BytesIO()
    segno.make(totp_uri(secret_b32), error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False,
                                                     svgns=True, title="TOTP enrolment QR code")
    return out.getvalue().decode()


def totp_code(secret_b32: str, at: float | None = None) -> str:
    return _totp(secret_b32).generate(int(at if at is not None else time.time())).decode()


def verify_totp(secret_b32: str, code: str, at: float) -> bool:
    """Accept the current 30 s window and the one before (phones drift)."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    for skew in (0, -30, 30):
        try:
            _totp(secret_b32).verify(code.encode(), int(at + skew))
            return True
        except InvalidToken:
            continue
    return False


def from_form(form) -> dict:
    out = {"password": form.get("password", ""), "password_confirm": form.get("password_confirm", ""),
           "totp": form.get("totp") in ("on", "true", "1")}
    if form.get("totp_code"):
        out["totp_code"] = form.get("totp_code", "")
    return out


def validate(answers: dict, ctx) -> dict:
    check_schema(answers, SCHEMA)
    problem = password_problem(answers["password"])
    if problem:
        raise StepError("password", f"The password is too weak: {problem}")
    if answers["password_confirm"] != answers["password"]:
        raise StepError("password_confirm", "The two passwords differ.")
    result = {"totp": bool(answers.get("totp"))}
    if result["totp"]:
        secret = ctx.state.load().get("pending_totp")
        if not secret:
            raise StepError("totp", "Start TOTP enrolment first (scan the QR code).")
        if not answers.get("totp_code"):
            raise StepError("totp_code", "Enter the 6-digit code from your authenticator app.")
        if not verify_totp(secret, answers["totp_code"], ctx.now()):
            raise StepError("totp_code", "That code is wrong or expired; enter the current 6-digit code.")
        result["totp_secret"] = secret
    return result


def store(answers: dict, normalized: dict, ctx) -> dict:
    """The password stays in memory (never in the state file); the TOTP seed waits there until applied."""
    ctx.secrets["password"] = answers["password"]
    return normalized


def summary(answers: dict) -> list[tuple[str, str]]:
    return [("User", "admin (domain Default, project admin)"),
            ("Second factor", "TOTP enrolled" if answers.get("totp") else "none")]


APPLY_ORDER = 50  # after the configuration is written: the catalog uses the box's address


def apply(answers: dict, ctx):
    """Bootstrap identity (keys, admin, catalog, service users); the undo removes what it created."""
    if ctx.identity.is_bootstrapped(ctx.settings):
        ctx.identity.bootstrap(ctx.settings, None)  # refresh the catalog for the new address; keeps the admin
        return None
    password = ctx.secrets.get("password")
    if not password:
        raise RuntimeError("The admin password is needed to continue; enter it again on the review page.")
    ctx.identity.bootstrap(ctx.settings, password)
    return {"created": True}


def undo(record: dict, ctx) -> None:
    if record and record.get("created"):
        ctx.identity.undo_bootstrap(ctx.settings)
