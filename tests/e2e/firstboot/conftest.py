"""Fixtures: a LAN (namespace + veth), a box (wizard process), a headless Chromium; all cleaned up."""
import pytest

from fb_e2e_helpers import Box, Lan, chromium


@pytest.fixture
def make_lan():
    lans = []

    def make():
        lans.append(Lan().create())
        return lans[-1]

    yield make
    for lan in lans:
        lan.delete()


@pytest.fixture
def lan(make_lan):
    return make_lan()


@pytest.fixture
def make_box(tmp_path, lan):
    boxes = []

    def make(lan=lan, **firstboot):
        box = Box(tmp_path / f"box{len(boxes)}", lan, **firstboot)
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
