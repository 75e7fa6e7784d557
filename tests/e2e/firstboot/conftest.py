"""Fixtures: a LAN (namespace + veth), a box (wizard process), a headless Chromium; all cleaned up."""
import pytest

from fb_e2e_helpers import Box, Lan, chromium


@pytest.fixture
def lan():
    lan = Lan().create()
    try:
        yield lan
    finally:
        lan.delete()


@pytest.fixture
def make_box(tmp_path, lan):
    boxes = []

    def make(**firstboot):
        box = Box(tmp_path, lan, **firstboot)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.stop()


@pytest.fixture
def make_browser(tmp_path):
    drivers = []

    def make(box):
        downloads = tmp_path / "downloads"
        downloads.mkdir(exist_ok=True)
        origins = [box.url(ip, "").rstrip("/") for ip in (box.lan.box_ip, box.lan.new_ip)]
        driver = chromium(downloads, tmp_path / "chromium-profile", secure_origins=origins)
        driver.downloads = downloads
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.quit()
