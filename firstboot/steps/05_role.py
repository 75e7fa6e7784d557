"""Step 5: the box's role: standalone, new site cluster, join a cluster (token) or enrol in a hub (URL + token),
and whether it runs the real-time profile (appliance/realtime.py)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from appliance import config, jointoken, realtime
from firstboot import steps, tomlwrite  # its registry (BY_NAME) is read at call time, after every step has loaded
from firstboot.steps import StepError, check_schema

NAME = "role"
TITLE = "Role"
APPLY_ORDER = 40
ROLES = ("standalone", "cluster", "join", "enrol")
SCHEMA = {
    "type": "object",
    "properties": {
        "role": {"enum": list(ROLES)},
        "site_name": {"type": "string", "maxLength": 63},
        "token": {"type": "string", "maxLength": 4096},
        "hub_url": {"type": "string", "maxLength": 512},
        "fingerprint_confirmed": {"type": "boolean"},
        "realtime": {"type": "boolean"},
        "isolated_cpus": {"type": "string", "maxLength": 64},
        "hugepages_2m": {"type": "integer", "minimum": 0, "maximum": 1 << 20},
    },
    "required": ["role"],
    "additionalProperties": False,
}
def from_form(form) -> dict:
    out = {"role": form.get("role", "")}
    for key in ("site_name", "token", "hub_url"):
        if form.get(key, "").strip():
            out[key] = form.get(key, "").strip()
    out["fingerprint_confirmed"] = form.get("fingerprint_confirmed") in ("on", "true", "1")
    out["realtime"] = form.get("realtime") in ("on", "true", "1")
    if out["realtime"]:
        out["isolated_cpus"] = form.get("isolated_cpus", "").strip()
        pages = form.get("hugepages_2m", "").strip() or "0"
        out["hugepages_2m"] = int(pages) if pages.isdigit() else pages     # the schema names what is wrong
    return out


def _realtime(answers: dict) -> dict | None:
    """The real-time profile's settings ([service.realtime]); None when the box does without."""
    if not answers.get("realtime"):
        return None
    isolated, pages = answers.get("isolated_cpus", ""), answers.get("hugepages_2m", 0)
    for field, message in realtime.problems(isolated, pages, realtime.possible_cpus(), realtime.memory_kib()):
        raise StepError(field, message)
    return {"enabled": True, "isolated_cpus": realtime.cpulist(realtime.parse_cpulist(isolated)),
            "hugepages_2m": pages}


def validate(answers: dict, ctx) -> dict:
    check_schema(answers, SCHEMA)
    role = answers["role"]
    out = {"role": role}
    profile = _realtime(answers)
    if profile:
        out["realtime"] = profile
    if role == "cluster":
        name = answers.get("site_name", "")
        problem = steps.BY_NAME["box"].hostname_problem(name) if name else "A site name is required."
        if problem or "." in name:
            raise StepError("site_name", f"Site name: {problem or 'use a single label (no dots).'}")
        out["site_name"] = name
    if role in ("join", "enrol"):
        if role == "enrol":
            url = answers.get("hub_url", "")
            parsed = urlparse(url)
            if parsed.scheme != "https" or not parsed.hostname:
                raise StepError("hub_url", "The hub URL must be an https:// URL, e.g. https://hub.example.net.")
            out["hub_url"] = url
        try:
            body = jointoken.parse(role, answers.get("token", ""), now=ctx.now())
        except jointoken.TokenInvalid as exc:
            raise StepError("token", str(exc)) from None
        if role == "enrol" and body["hub_url"].rstrip("/") != out["hub_url"].rstrip("/"):
            raise StepError("hub_url", f"This token was issued by the hub at {body['hub_url']}, not {out['hub_url']}.")
        fingerprint = jointoken.pretty_fingerprint(body["ca_fingerprint"])
        hostname = (ctx.state.answers().get("box") or {}).get("hostname")
        if role == "join" and hostname and hostname in body.get("members", []):
            raise StepError("hostname", f"The host name {hostname!r} is already used by a member of this site "
                                        "cluster; go back to 'Box identity' and pick another.")
        if not answers.get("fingerprint_confirmed"):
            raise StepError("fingerprint_confirmed", f"Check the peer's CA fingerprint: {fingerprint}. Confirm it "
                                                     "matches the one printed by the issuing box.",
                            fingerprint=fingerprint, peer=body.get("addresses") or out.get("hub_url"))
        if role == "join":  # a box whose own cloud holds resources would lose them (egret join --force drops them)
            held = ctx.membership.holdings_problem(ctx.settings)
            if held:
                raise StepError("role", held)
        try:  # before anything changes: the peer answers and presents the CA the token pins
            ctx.membership.check_peer(role, body)
        except Exception as exc:
            raise StepError("token", str(exc)) from None
        # the token is kept (root-only state file) until setup is done: apply redeems it
        out.update(ca_fingerprint=body["ca_fingerprint"], peer=body.get("addresses") or [out.get("hub_url")],
                   expires_at=body["expires_at"], token=answers["token"].strip())
    return out


def summary(answers: dict) -> list[tuple[str, str]]:
    label = {"standalone": "Standalone box", "cluster": f"First node of new site '{answers.get('site_name')}'",
             "join": "Join a site cluster", "enrol": "Enrol in a federation hub"}[answers["role"]]
    rows = [("Role", label)]
    profile = answers.get("realtime")
    if profile:
        rows.append(("Real-time profile", f"PREEMPT_RT kernel (after a reboot); isolated CPUs: "
                                          f"{profile['isolated_cpus'] or 'none'}; 2 MB huge pages: "
                                          f"{profile['hugepages_2m']}"))
    if answers.get("ca_fingerprint"):
        rows += [("Peer", ", ".join(answers["peer"])),
                 ("Peer CA", jointoken.pretty_fingerprint(answers["ca_fingerprint"])),
                 ("Token expires", answers["expires_at"])]
    return rows


def preflight(answers: dict, ctx) -> None:
    """Runs before apply changes anything: a token that expired since this step was answered stops here."""
    if answers["role"] in ("join", "enrol"):
        try:
            jointoken.parse(answers["role"], answers.get("token", ""), now=ctx.now())
        except jointoken.TokenInvalid as exc:
            raise StepError("token", f"{exc} Go back to 'Role' and enter a new token.") from None


def config_sections(answers: dict, ctx) -> dict:
    section = {k: v for k, v in answers.items() if k in ("role", "site_name")}
    hostname = (ctx.state.answers().get("box") or {}).get("hostname")
    if hostname:
        section["node_name"] = hostname  # the name this box has in its site, and towards a hub
    return {"cluster": section}


def apply(answers: dict, ctx):
    """The real-time profile into place; found the site, join it, or enrol in the hub, with the settings the box
    will run with."""
    role = answers["role"]
    record = {"role": role}
    if answers.get("realtime"):
        record["realtime"] = _write_profile(ctx, tomlwrite.dumps(
            {"service": {"realtime": answers["realtime"]}}, header="The real-time profile, chosen in the first-boot wizard."))
        ctx.services.apply_realtime(ctx.settings)
    if role == "standalone":
        return record if "realtime" in record else None
    settings = steps.planned_settings(ctx)[0]
    if role == "cluster":
        founded = ctx.membership.found(settings, answers["site_name"]) or {}
        move = founded.get("move") or {}
        if move.get("settings_file"):
            # the founding pointed the services at PostgreSQL (a settings file): they start on it in this run
            # too, and a rollback removes the file when the founding made empty databases only
            record["settings_file"] = move["settings_file"] if not move.get("services") else None
            ctx.settings = config.replace(ctx.settings, database_url=_database_url(ctx.settings))
    elif role == "join":
        ctx.membership.join(settings, answers["token"])
    else:
        ctx.membership.enrol(settings, answers["token"])
    return record


def _write_profile(ctx, text: str | None) -> dict:
    """The profile's own settings file (None: none); returns what undo needs to put the previous one back."""
    path = ctx.settings.config_dir / realtime.CONFIG_FILE
    previous = path.read_text() if path.exists() else None
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {"previous": previous}


def _database_url(settings) -> str:
    """database_url as the box's settings files now say (the founding wrote one; never kept in the wizard's state)."""
    return config.load(env={"EGRET_CONFIG_DIR": str(settings.config_dir)}, state_dir=settings.state_dir).database_url


def undo(record: dict, ctx) -> None:
    """A failed apply leaves the box standalone: no site files, no certificates, no enrolment; and the profile
    it had (the boot entries as they were)."""
    if record["role"] == "enrol":
        ctx.membership.unenrol(ctx.settings)
    elif record["role"] in ("cluster", "join"):
        ctx.membership.leave(ctx.settings)
    if "realtime" in record:
        _write_profile(ctx, record["realtime"]["previous"])
        ctx.services.apply_realtime(ctx.settings)
    if record.get("settings_file"):
        Path(record["settings_file"]).unlink(missing_ok=True)
        ctx.settings = config.replace(ctx.settings, database_url="")
