"""Compute's background tasks: a worker pool (or inline in tests), per-instance locks, a DB connection per task."""
from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from services.compute.models import database

log = logging.getLogger(__name__)


def in_db(fn):
    """Run a task in its own database connection (tasks run on worker threads)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with database.connection_context():
            return fn(*args, **kwargs)
    return wrapper


class Tasks:
    """Where the long halves of API calls run: builds, deletes, power actions, resizes, snapshots."""

    def __init__(self, workers: int = 4, synchronous: bool = False):
        self.synchronous = synchronous
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compute-task")
        self.locks: dict[str, threading.Lock] = {}
        self.locks_guard = threading.Lock()

    def submit(self, fn, *args) -> None:
        if self.synchronous:
            fn(*args)
        else:
            self.executor.submit(self._guarded, fn, *args)

    @staticmethod
    def _guarded(fn, *args):
        try:
            fn(*args)
        except Exception:  # a task must never die silently
            log.exception("compute task %s failed", getattr(fn, "__name__", fn))

    def lock_for(self, key: str) -> threading.Lock:
        """One lock per instance (or cached image): a delete waits for the build to stop at its next step."""
        with self.locks_guard:
            return self.locks.setdefault(key, threading.Lock())
