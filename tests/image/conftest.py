"""Image-test fixtures: build the Debian image once per session (or reuse $EGRET_IMAGE), boot guests under TCG."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from images import testlayer

from egret_qemu import Guest  # noqa: E402,F401

pytestmark = pytest.mark.image


def pytest_collection_modifyitems(items):
    for item in items:
        if str(item.fspath).startswith(str(HERE)):
            item.add_marker(pytest.mark.image)


@pytest.fixture(scope="session")
def image(image_tmp):
    """{"raw": Path, "flash_raw": Path, "bundle": Path, "info": build.json} of the image under test. "raw" is a copy
    with the test layer (images/testlayer.py: the fw_cfg hook units); "flash_raw" is what users flash, without it."""
    if os.geteuid() != 0:
        pytest.skip("building and booting the image needs root (mmdebstrap chroot, mkfs -d ownership)")
    given = os.environ.get("EGRET_IMAGE")
    if given:
        raw = Path(given).resolve()
    else:
        out = REPO / "artifacts" / "image"
        started = time.monotonic()
        subprocess.run([sys.executable, str(REPO / "images" / "build.py"), "--out", str(out)], check=True)
        print(f"image build: {time.monotonic() - started:.0f}s", file=sys.stderr)
        raw = out / "egret-amd64.raw"
    info = json.loads(raw.with_name(raw.name.replace(".raw", ".build.json")).read_text())
    layered = testlayer.layered_image(raw, image_tmp / "egret-test.raw", info["service_units"])
    return {"raw": layered, "flash_raw": raw, "bundle": raw.with_name(raw.name.replace(".raw", ".update.tar")),
            "info": info}


@pytest.fixture(scope="session")
def image_tmp():
    """Our own scratch dir: pytest's basetemp under /tmp is shared with other runs on this machine and
    rotated (only the last 3 kept), which would delete a guest's disk and log while it still boots."""
    path = Path(tempfile.mkdtemp(prefix="egret-image-tests-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmp_path(image_tmp, request):
    """Per-test dir inside image_tmp (overrides pytest's tmp_path for the image tests)."""
    path = image_tmp / re.sub(r"[^\w.-]", "_", request.node.name)[:60]
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def guests(tmp_path):
    """Factory for guests on overlays of the image; every guest is stopped at the end, even on failure."""
    made = []

    def make(image_path: Path, name: str, **kw) -> Guest:
        g = Guest(image_path, tmp_path, name, **kw)
        made.append(g)
        return g

    yield make
    for g in made:
        g.stop()
        # keep the serial log of a failed run next to the test's tmp dir for the report
        if g.log.exists():
            print(f"--- {g.name} serial log: {g.log}", file=sys.stderr)
