"""The wizard's state machine, shared by the web UI, its JSON API and the headless answers file."""
from __future__ import annotations

from appliance.config import Settings
from appliance.endpoints import endpoints
from appliance.manifest import load_manifest, start_order
from firstboot.backends import RealIdentity, RealMembership, make_services
from firstboot import steps
from firstboot.network_trial import NetworkTrial
from firstboot.runner import Runner
from firstboot.setupcode import SetupCode
from firstboot.state import WizardState
from firstboot.steps import Context, StepError
from firstboot.system import make_system


class Wizard:
    def __init__(self, settings: Settings, *, system=None, identity=None, services=None, clock=None,
                 membership=None):
        self.settings = settings
        self.state = WizardState(settings)
        self.ctx = Context(settings=settings, system=system or make_system(settings),
                           identity=identity or RealIdentity(), services=services or make_services(settings),
                           state=self.state, clock=clock, membership=membership or RealMembership())
        section = settings.section("firstboot")
        self.code = SetupCode(settings, clock=self.ctx.now)
        self.trial = NetworkTrial(self.ctx, timeout=float(section.get("confirm_timeout", 120)),
                                  apply_delay=float(section.get("network_apply_delay", 1.0)))
        self.runner = Runner(self.ctx)

    def recover(self) -> None:
        """After a (re)start: roll back an unconfirmed network change; mark an apply that was cut short."""
        if self.mode() == "setup":
            self.trial.recover_after_restart()
            self.runner.recover_after_restart()

    def mode(self) -> str:
        """'setup' until setup is done; 'done' afterwards, or when the box was bootstrapped another way (dev)."""
        if self.state.setup_done:
            return "done"
        if self.state.load().get("apply"):
            return "setup"
        try:
            return "done" if self.ctx.identity.is_bootstrapped(self.settings) else "setup"
        except Exception:  # identity not installed: nothing can be bootstrapped yet
            return "setup"

    def require_setup(self) -> None:
        if self.mode() != "setup":
            raise StepError("step", "This box is already set up; the wizard's steps are closed.")

    def discover(self, name: str) -> dict:
        if name == "network":
            return {"interfaces": self.ctx.interfaces(), "trial": _public_trial(self.trial.current())}
        if name == "storage":
            return {"disks": self.ctx.disks()}
        if name == "box":
            return {"timezones": steps.BY_NAME["box"].timezones()}
        return {}

    def submit(self, name: str, answers: dict, *, auto_confirm: bool = False) -> dict:
        """Validate one step; store it (network: try it live first). Returns what the client should show."""
        self.require_setup()
        step = steps.get(name)
        if self.runner.running():
            raise StepError("step", "Setup is being applied; wait for it to finish.")
        if not isinstance(answers, dict):
            raise StepError("/", "The answers of a step are a JSON object.")
        if name == "apply":
            normalized = step.validate(answers, self.ctx)
            if answers.get("password"):
                self.ctx.secrets["password"] = answers["password"]
            self.runner.start(background=not auto_confirm)
            return {"apply": self.runner.progress()}
        normalized = step.validate(answers, self.ctx)
        if hasattr(step, "store"):
            normalized = step.store(answers, normalized, self.ctx)
        if name == "network":
            trial = self.trial.start(normalized, auto_confirm=auto_confirm)
            if trial["status"] == "rolled_back":
                raise StepError("network", trial["reason"], trial=_public_trial(trial))
            return {"trial": _public_trial(trial, with_token=True)}
        self.state.set_answer(name, normalized)
        return {"answers": normalized}

    def start_totp(self) -> dict:
        self.require_setup()
        admin = steps.get("admin")
        secret = admin.new_totp_secret()
        self.state.update(lambda d: d.__setitem__("pending_totp", secret))
        return {"secret": secret, "uri": admin.totp_uri(secret), "qr_svg": admin.totp_qr_svg(secret)}

    def next_step(self) -> str:
        data = self.state.load()
        for step in steps.ANSWER_STEPS:
            if step.NAME not in data["answers"]:
                return step.NAME
        return "apply"

    def summary(self) -> list[dict]:
        answers = self.state.answers()
        return [{"name": s.NAME, "title": s.TITLE, "rows": s.summary(answers[s.NAME]) if s.NAME in answers else None}
                for s in steps.ANSWER_STEPS]

    def needs_password(self) -> bool:
        try:
            return not self.ctx.secrets.get("password") and not self.ctx.identity.is_bootstrapped(self.ctx.settings)
        except Exception:
            return not self.ctx.secrets.get("password")

    def endpoints(self) -> list[dict]:
        settings = self.ctx.settings
        units = start_order(load_manifest(), settings.enabled_services)
        return [{"label": label, "url": url} for label, url in endpoints(settings, units)]


def _public_trial(trial: dict | None, with_token: bool = False) -> dict | None:
    if not trial:
        return None
    out = {k: trial[k] for k in ("status", "reason", "deadline", "plan", "result")}
    if with_token:
        out["token"] = trial["token"]
    return out
