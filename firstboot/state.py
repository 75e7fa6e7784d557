"""The wizard's persisted progress (answers, network trial, apply tasks) under <state_dir>/firstboot."""
from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path

from appliance.config import Settings


def firstboot_dir(settings: Settings) -> Path:
    path = settings.state_dir / "firstboot"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Atomic write readable by root only (state holds secrets such as a pending TOTP seed)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


EMPTY = {"answers": {}, "completed": [], "network_trial": None, "apply": None, "setup_done": False}


class WizardState:
    """One JSON document; every change is written through, so a reboot loses nothing already answered."""

    def __init__(self, settings: Settings):
        self.path = firstboot_dir(settings) / "state.json"
        self.done_marker = firstboot_dir(settings) / "setup-done"
        self._lock = threading.RLock()

    def load(self) -> dict:
        with self._lock:
            if not self.path.exists():
                return copy.deepcopy(EMPTY)
            data = json.loads(self.path.read_text())
            return {**copy.deepcopy(EMPTY), **data}

    def save(self, data: dict) -> None:
        with self._lock:
            write_private(self.path, json.dumps(data, indent=1, sort_keys=True))

    def update(self, fn):
        """Read-modify-write under the lock; fn mutates the dict and may return a value."""
        with self._lock:
            data = self.load()
            result = fn(data)
            self.save(data)
            return result

    def answers(self) -> dict:
        return self.load()["answers"]

    def set_answer(self, step: str, answers: dict) -> None:
        def fn(data):
            data["answers"][step] = answers
            if step not in data["completed"]:
                data["completed"].append(step)
        self.update(fn)

    def mark_done(self) -> None:
        self.update(lambda d: d.__setitem__("setup_done", True))
        write_private(self.done_marker, "done\n")

    @property
    def setup_done(self) -> bool:
        return self.done_marker.exists()
