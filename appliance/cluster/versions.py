"""The Egret release a box runs, and whether two boxes' releases may share a site (same major.minor)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def current() -> str:
    """This box's release (the installed distribution's version, as the federation inventory reports it)."""
    try:
        return version("egret")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


def series(release: str | None) -> str:
    """major.minor of a release ("0.8.2" -> "0.8"); "unknown" when a box did not say."""
    if not release:
        return "unknown"
    parts = release.split(".")
    return ".".join(parts[:2])


def skew(founder: str | None, node: str | None) -> bool:
    return series(founder) != series(node)


def refusal(founder: str, node: str | None) -> str:
    return (f"version skew: the founder runs {series(founder)}, this box {series(node)} "
            f"(Egret {founder} and {node or 'an unknown release'}): update it first.")
