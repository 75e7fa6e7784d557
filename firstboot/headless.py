"""`egret firstboot --answers answers.yaml`: the wizard's steps from a file, with the same validation."""
from __future__ import annotations

import sys

import yaml

from appliance.config import Settings
from firstboot.console import banner, wizard_urls
from firstboot.state import WizardState
from firstboot.steps import ANSWER_STEPS, StepError
from firstboot.wizard import Wizard


def run_answers(settings: Settings, path: str, *, system=None, identity=None, services=None,
                keep_running: bool = False, out=None) -> int:
    out = out or sys.stdout
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        print(f"egret firstboot: cannot read {path}: {exc}", file=out)
        return 2
    if not isinstance(doc, dict):
        print(f"egret firstboot: {path} must be a mapping of step name to answers", file=out)
        return 2
    wizard = Wizard(settings, system=system, identity=identity, services=services)
    if wizard.mode() != "setup":
        print("egret firstboot: this box is already set up; nothing was changed", file=out)
        return 3
    wizard.recover()
    unknown = sorted(set(doc) - {s.NAME for s in ANSWER_STEPS})
    if unknown:
        print(f"egret firstboot: {path}: unknown step(s) {', '.join(unknown)}", file=out)
        return 2
    prepared = {}
    # every step is validated before anything changes (the network step changes the box when submitted)
    for live in (False, True):
        for step in ANSWER_STEPS:
            answers = doc.get(step.NAME)
            try:
                if not live:
                    if answers is None:
                        raise StepError("/", "missing from the answers file")
                    if step.NAME == "admin" and isinstance(answers, dict) and answers.get("totp"):
                        raise StepError("totp", "TOTP enrolment must be verified with a code: use the browser "
                                                "wizard or enrol later with the identity API")
                    if step.NAME == "admin" and isinstance(answers, dict) and "password_confirm" not in answers:
                        answers = {**answers, "password_confirm": answers.get("password", "")}
                    if not isinstance(answers, dict):
                        raise StepError("/", "must be a mapping of answers")
                    step.validate(answers, wizard.ctx)
                    prepared[step.NAME] = answers
                else:
                    wizard.submit(step.NAME, prepared[step.NAME], auto_confirm=True)
                    print(f"  ok  {step.TITLE}", file=out)
            except StepError as exc:
                where = step.NAME + ("" if exc.field == "/" else "." + exc.field.replace("/", "."))
                print(f"egret firstboot: {path}: {where}: {exc.message}", file=out)
                return 2
    try:
        wizard.submit("apply", {}, auto_confirm=True)
    except StepError as exc:
        print(f"egret firstboot: {exc.message}", file=out)
        return 2
    run = wizard.runner.progress()
    for task in run["tasks"]:
        print(f"  {task['status']:7s} {task['label']}" + (f" ({task['detail']})" if task["detail"] else ""), file=out)
    if not keep_running:
        wizard.ctx.services.stop_all()
    if run["status"] != "done":
        print(f"egret firstboot: setup failed: {run['error']}", file=out)
        return 1
    print(f"Setup complete. Configuration: {settings.config_dir}/egret.toml; clouds.yaml: "
          f"{settings.state_dir}/clouds.yaml", file=out)
    return 0


def main(args, settings: Settings) -> int:
    """Dispatch of the `egret firstboot` subcommand."""
    if args.banner:
        if WizardState(settings).setup_done:
            print(f"This Egret box is set up. Dashboard (admin login): {wizard_urls(settings)[-1]}")
        else:
            print(banner(settings))
        return 0
    if not args.answers:
        print("egret firstboot: give --answers FILE (headless setup) or --banner (console text)", file=sys.stderr)
        return 2
    return run_answers(settings, args.answers, keep_running=False)
