"""Review-and-apply: ordered tasks with persisted progress, undo of what was done when a task fails."""
from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from pathlib import Path

import yaml

from appliance import siterole
from appliance.cluster import membership, siteclouds
from appliance.endpoints import write_clouds_yaml
from appliance.manifest import load_manifest
from firstboot import tomlwrite
from firstboot.steps import ANSWER_STEPS, BY_NAME, StepError, planned_settings

log = logging.getLogger("egret.firstboot")
CONFIG_FILE = "egret.toml"


def missing_steps(state: dict) -> list[str]:
    return [s.NAME for s in ANSWER_STEPS if s.NAME not in state["answers"]]


def preflight(ctx) -> None:
    """Checks that change nothing: every step answered, network confirmed, no not-yet-implemented role."""
    data = ctx.state.load()
    missing = missing_steps(data)
    if missing:
        raise StepError(missing[0], f"Step '{BY_NAME[missing[0]].TITLE}' is not done yet.")
    for step in ANSWER_STEPS:
        if hasattr(step, "preflight"):
            step.preflight(data["answers"][step.NAME], ctx)
    if not ctx.identity.is_bootstrapped(ctx.settings) and not ctx.secrets.get("password"):
        raise StepError("password", "Enter the admin password again: the wizard restarted and never keeps it.")


def build_tasks(ctx) -> list[dict]:
    tasks = [{"id": f"step:{s.NAME}", "label": _STEP_LABELS.get(s.NAME, s.TITLE)}
             for s in sorted(ANSWER_STEPS, key=lambda s: s.APPLY_ORDER) if s.APPLY_ORDER < 50]
    tasks.append({"id": "config", "label": f"Write the configuration ({ctx.settings.config_dir / CONFIG_FILE})"})
    tasks.append({"id": "step:admin", "label": "Bootstrap identity: keys, admin account, service catalog"})
    tasks.append({"id": "clouds", "label": "Write clouds.yaml for the admin"})
    for name in ctx.services.units(ctx.settings):
        tasks.append({"id": f"start:{name}", "label": f"Start the {name} service"})
    tasks.append({"id": "health", "label": "Health checks of every service"})
    if ctx.state.answers()["admin"].get("totp"):
        tasks.append({"id": "totp", "label": "Register the admin's TOTP second factor"})
    for t in tasks:
        t.update(status="pending", detail="", undo=None)
    return tasks


def write_clouds(settings, password: str | None, totp: bool) -> str:
    """clouds.yaml for the admin; with TOTP enrolled, the multi-factor plugin (the CLI asks --os-passcode). A box
    that joined a site gave up its own cloud: its clouds.yaml names the site's API."""
    api = siteclouds.member_api(membership.site(settings))
    if api:
        return siteclouds.write(settings, api)
    path = write_clouds_yaml(settings, password)
    if totp:
        with open(path) as fh:
            doc = yaml.safe_load(fh)
        cloud = doc["clouds"]["egret"]
        cloud["auth_type"] = "v3multifactor"
        cloud["auth_methods"] = ["v3password", "v3totp"]
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(doc, fh, sort_keys=False)
    return path


_STEP_LABELS = {"box": "Set host name, time zone and NTP servers", "network": "Record the management network",
                "storage": "Prepare the storage disks", "role": "Record the box's role"}


class Runner:
    def __init__(self, ctx):
        self.ctx = ctx
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- state --------------------------------------------------------------------------------------
    def progress(self) -> dict | None:
        return self.ctx.state.load().get("apply")

    def _set(self, fn) -> None:
        self.ctx.state.update(lambda d: fn(d["apply"]))

    def recover_after_restart(self) -> None:
        """A reboot mid-apply: processes are gone, so starts and checks must run again; the rest stays done."""
        def fn(d):
            run = d.get("apply")
            if run and run["status"] == "running":
                run["status"] = "interrupted"
                run["error"] = "The box restarted during setup; resume to finish the remaining tasks."
                for t in run["tasks"]:
                    if t["id"].startswith(("start:", "health")) or t["status"] == "running":
                        t["status"] = "pending"
        self.ctx.state.update(fn)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- control ------------------------------------------------------------------------------------
    def start(self, background: bool = True) -> None:
        with self._lock:
            if self.running():
                raise StepError("apply", "Setup is already being applied.")
            preflight(self.ctx)
            prior = self.progress()

            def fn(d):
                if prior and prior["status"] == "interrupted":
                    d["apply"]["status"] = "running"
                    d["apply"]["error"] = None
                else:
                    d["apply"] = {"status": "running", "tasks": build_tasks(self.ctx), "error": None,
                                  "started_at": time.time(), "finished_at": None}
            self.ctx.state.update(fn)
            if background:
                self._thread = threading.Thread(target=self.run, daemon=True, name="firstboot-apply")
                self._thread.start()
        if not background:
            self.run()

    def run(self) -> None:
        run = self.progress()
        for i, task in enumerate(run["tasks"]):
            if task["status"] == "done":
                if task["id"] == "config":  # after a restart the settings must again include the answers
                    self.ctx.settings = planned_settings(self.ctx)[0]
                continue
            self._mark(i, "running", "")
            try:
                undo, detail = self._do(task["id"])
            except Exception as exc:  # any failure rolls back; the message is shown to the operator
                reason = exc.message if isinstance(exc, StepError) else str(exc) or exc.__class__.__name__
                log.warning("firstboot task %s failed: %s\n%s", task["id"], reason, traceback.format_exc())
                self._mark(i, "failed", reason)
                self._rollback(i, f"{task['label']} failed: {reason}")
                return
            self._mark(i, "done", detail, undo=undo)
        self.ctx.services.keep_running()
        self._set(lambda r: r.update(status="done", finished_at=time.time()))
        # the TOTP seed now lives in identity only; a join/enrol token is spent
        self.ctx.state.update(lambda d: (d.pop("pending_totp", None), d["answers"]["admin"].pop("totp_secret", None),
                                         d["answers"]["role"].pop("token", None)))
        self.ctx.state.mark_done()

    def _mark(self, i: int, status: str, detail: str, undo=None) -> None:
        def fn(r):
            r["tasks"][i].update(status=status, detail=detail)
            if undo is not None:
                r["tasks"][i]["undo"] = undo
        self._set(fn)

    def _rollback(self, failed_index: int, reason: str) -> None:
        tasks = self.progress()["tasks"]
        undone = []
        for j in range(failed_index, -1, -1):
            task = tasks[j]
            if task["status"] not in ("done", "failed"):
                continue
            try:
                if self._undo(task):
                    undone.append(task["label"])
                if task["status"] == "done":
                    self._mark(j, "undone", "rolled back")
            except Exception as exc:  # keep undoing the rest; report what could not be undone
                log.exception("undo of %s failed", task["id"])
                self._mark(j, "failed", f"rollback failed: {exc}")
        reason = reason if reason.endswith((".", "!", "?")) else reason + "."
        message = reason + (" Rolled back: " + "; ".join(undone) + "." if undone else " Nothing had been changed.")
        self._set(lambda r: r.update(status="failed", error=message, finished_at=time.time()))

    # --- tasks --------------------------------------------------------------------------------------
    def _do(self, task_id: str):
        ctx = self.ctx
        answers = ctx.state.answers()
        if task_id.startswith("step:"):
            name = task_id[5:]
            return BY_NAME[name].apply(answers[name], ctx), ""
        if task_id == "config":
            new_settings, document = planned_settings(ctx)
            path = ctx.settings.config_dir / CONFIG_FILE
            previous = path.read_text() if path.exists() else None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tomlwrite.dumps(document,
                                            header="Written by the Egret first-boot wizard; safe to edit."))
            ctx.settings = new_settings
            return {"path": str(path), "previous": previous}, ""
        if task_id == "clouds":
            return None, write_clouds(ctx.settings, ctx.secrets.get("password"), bool(answers["admin"].get("totp")))
        if task_id.startswith("start:"):
            name = task_id[6:]
            if not siterole.runs_here(ctx.settings, load_manifest()[name]):
                # the box joined a site just now (the role step): it gave up its own cloud to the founder's
                return None, "not run: this box is a site's member, whose API is the founder's"
            ctx.services.start(ctx.settings, name)
            return {"unit": name}, "healthy"
        if task_id == "health":
            # every unit answered when it was started: one that does not answer now is asked again for a while
            # (a slow box busy with the others' start-up), and only one that stays unhealthy fails the setup
            deadline = time.monotonic() + ctx.services.health_wait
            while True:
                rows = [r for r in ctx.services.health(ctx.settings) if r["service"] != "firstboot"]
                bad = [f"{r['unit']} ({r['detail']})" for r in rows if not r["healthy"]]
                if not bad or time.monotonic() >= deadline:
                    break
                time.sleep(2)
            if bad:
                raise RuntimeError("unhealthy: " + ", ".join(bad))
            return None, f"{len(rows)} healthy"
        if task_id == "totp":
            if siterole.is_member(ctx.settings):
                return None, "not enrolled: this box is a site's member, whose admin is the site's"
            secret = answers["admin"].get("totp_secret") or ctx.state.load().get("pending_totp")
            ctx.identity.register_totp(ctx.settings, ctx.secrets.get("password"), secret)
            return None, "enrolled"
        raise RuntimeError(f"unknown task {task_id}")

    def _undo(self, task: dict) -> bool:
        ctx, record, task_id = self.ctx, task.get("undo"), task["id"]
        if task_id.startswith("step:"):
            step = BY_NAME[task_id[5:]]
            if record and hasattr(step, "undo"):
                step.undo(record, ctx)
                return True
            return False
        if task_id == "config" and record:
            path = Path(record["path"])
            if record["previous"] is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(record["previous"])
            return True
        if task_id.startswith("start:"):
            ctx.services.stop(task_id[6:])
            return True
        return False

