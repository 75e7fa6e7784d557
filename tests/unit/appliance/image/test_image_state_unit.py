"""egret-state's reload (the wizard's, before each unit starts) issues the API certificate a joining box lacks."""
from __future__ import annotations

import subprocess

from images import files


def _reload_line() -> str:
    lines = [line for line in files.STATE_UNIT.splitlines() if line.startswith("ExecReload=-/bin/sh -c ")]
    assert len(lines) == 1
    return lines[0].removeprefix("ExecReload=-/bin/sh -c ").strip("'")


def _run(tmp_path, script: str) -> list[str]:
    log = tmp_path / "calls"
    stub = tmp_path / "egret"
    stub.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    stub.chmod(0o755)
    text = (script.replace("/var/lib/egret", str(tmp_path / "state")).replace("/run/egret", str(tmp_path / "run"))
            .replace(files.EGRET, str(stub)))
    subprocess.run(["/bin/sh", "-c", text], check=True)
    return log.read_text().splitlines() if log.exists() else []


def test_the_reload_issues_the_api_certificate_only_during_or_after_setup_and_only_once(tmp_path):
    script = _reload_line()
    (tmp_path / "state" / "tls").mkdir(parents=True)
    assert _run(tmp_path, script) == []  # a box not set up: the wizard's own certificate, nothing else
    (tmp_path / "run" / "setup-applying").mkdir(parents=True)
    assert _run(tmp_path, script) == ["tls ensure"]  # the wizard's apply opened the gate
    (tmp_path / "state" / "tls" / "server.crt").write_text("cert")
    assert _run(tmp_path, script) == ["tls ensure"]  # there already: not issued again by the reload
