"""Trying a management-network change live: rolled back automatically unless confirmed from the new address."""
from __future__ import annotations

import ipaddress
import secrets
import threading

from firstboot.steps import BY_NAME, StepError
from firstboot.system import SystemError_


class NetworkTrial:
    def __init__(self, ctx, timeout: float, apply_delay: float = 0.0):
        self.ctx = ctx
        self.timeout = timeout
        # the browser's request arrives on the address about to change: answer it (and let the page load)
        # before the change cuts that connection
        self.apply_delay = apply_delay
        self._timer: threading.Timer | None = None
        self._lock = threading.RLock()

    def current(self) -> dict | None:
        return self.ctx.state.load().get("network_trial")

    def _save(self, trial: dict | None) -> None:
        self.ctx.state.update(lambda d: d.__setitem__("network_trial", trial))

    def start(self, plan: dict, auto_confirm: bool = False) -> dict:
        """Apply `plan` (validated answers). Failure: restored at once. Success: pending until confirmed."""
        with self._lock:
            self._cancel_timer()
            old = self.current()
            if old and old["status"] in ("pending", "applying"):
                self._rollback(old, "replaced by a newer network change")
            snapshot = self.ctx.system.snapshot_network(plan["interface"])
            trial = {"plan": plan, "snapshot": snapshot, "token": secrets.token_urlsafe(16),
                     "started_at": self.ctx.now(), "deadline": self.ctx.now() + self.apply_delay + self.timeout,
                     "status": "applying", "reason": None, "result": None}
            self._save(trial)
        if self.apply_delay and not auto_confirm:
            self._timer = threading.Timer(self.apply_delay, self._apply, args=(trial["token"], False))
            self._timer.daemon = True
            self._timer.start()
            return trial
        return self._apply(trial["token"], auto_confirm)

    def _apply(self, token: str, auto_confirm: bool) -> dict:
        with self._lock:
            trial = self.current()
            if not trial or trial["token"] != token or trial["status"] != "applying":
                return trial
            try:
                trial["result"] = self.ctx.system.apply_network(trial["plan"])
            except SystemError_ as exc:
                return self._rollback(trial, f"applying it failed: {exc}")
            trial["status"] = "pending"
            trial["deadline"] = self.ctx.now() + self.timeout
            self._save(trial)
            if auto_confirm:
                return self.confirm(trial["token"], None)
            self._timer = threading.Timer(self.timeout + 0.05, self.expire)
            self._timer.daemon = True
            self._timer.start()
            return trial

    def new_ip(self, trial: dict) -> str | None:
        addr = (trial.get("result") or {}).get("address") or trial["plan"].get("address")
        return str(ipaddress.ip_interface(addr).ip) if addr else None

    def confirm(self, token: str, host: str | None) -> dict:
        """The operator reached the box at its new address; `host` None means headless (no browser)."""
        with self._lock:
            trial = self.current()
            if not trial or trial["status"] != "pending" or not secrets.compare_digest(token or "", trial["token"]):
                raise StepError("token", "There is no network change waiting for this confirmation "
                                         "(it may have been rolled back already).")
            if self.ctx.now() > trial["deadline"]:
                self.expire()
                raise StepError("token", "Too late: the change was not confirmed in time and was rolled back.")
            new_ip = self.new_ip(trial)
            if host is not None and new_ip and host.strip("[]") != new_ip:
                raise StepError("host", f"Open the confirmation link at the new address {new_ip}: reaching the "
                                        "box there is what proves the new settings work.")
            self._cancel_timer()
            trial["status"] = "confirmed"
            answers = dict(trial["plan"])
            if answers["mode"] == "dhcp":
                answers["obtained_address"] = (trial.get("result") or {}).get("address")
            self._save(trial)
            self.ctx.state.set_answer("network", answers)
            return trial

    def expire(self) -> None:
        with self._lock:
            trial = self.current()
            if trial and trial["status"] == "pending" and self.ctx.now() >= trial["deadline"]:
                self._rollback(trial, f"it was not confirmed from the new address within {self.timeout:.0f} s")

    def recover_after_restart(self) -> None:
        trial = self.current()
        if trial and trial["status"] in ("pending", "applying"):
            self._rollback(trial, "the wizard restarted before the change was confirmed")

    def _rollback(self, trial: dict, why: str) -> dict:
        try:
            self.ctx.system.restore_network(trial["snapshot"])
            restored = ", ".join(trial["snapshot"]["addresses"]) or "no address"
            trial["reason"] = (f"The network change was rolled back because {why}. "
                               f"{trial['snapshot']['ifname']} is back to its previous settings ({restored}).")
        except SystemError_ as exc:
            trial["reason"] = f"The network change failed ({why}) and restoring the previous settings failed: {exc}"
        trial["status"] = "rolled_back"
        self._save(trial)
        # the step is not done until a change is confirmed
        self.ctx.state.update(lambda d: (d["answers"].pop("network", None),
                                         d["completed"].remove("network") if "network" in d["completed"] else None))
        return trial

    def _cancel_timer(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None


def validate_plan(answers: dict, ctx) -> dict:
    return BY_NAME["network"].validate(answers, ctx)
