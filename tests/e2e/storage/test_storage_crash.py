"""Kill -9 the storage worker in the middle of uploads: after the restart nothing half-written is visible."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024


def storage_worker(cloud) -> int:
    master = json.loads((cloud.state_dir / "run" / "supervisor.json").read_text())["units"]["storage"]["pid"]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                return int(pid)
    raise AssertionError("no storage worker found")


def slow_body(started: threading.Event, stop: threading.Event):
    for i in range(10_000):
        if stop.is_set():
            return
        yield b"\0" * MiB
        if i == 8:
            started.set()
            stop.wait(30)


def upload_until_killed(cloud, method, url, headers, is_busy):
    """Stream a body that stalls after 9 MiB, wait until the server shows the upload in progress, kill -9."""
    started, stop, result = threading.Event(), threading.Event(), {}

    def run():
        try:
            result["response"] = requests.request(method, url, data=slow_body(started, stop), headers=headers,
                                                  timeout=60)
        except requests.RequestException as exc:
            result["error"] = exc

    worker = storage_worker(cloud)
    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30)
    deadline = time.time() + 20
    while not is_busy() and time.time() < deadline:
        time.sleep(0.1)
    assert is_busy(), "the upload never showed up on the server"
    os.kill(worker, signal.SIGKILL)
    stop.set()
    thread.join(30)
    assert "error" in result or result["response"].status_code >= 500
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(cloud.url("image", "/healthz"), timeout=2).status_code == 200 and \
                    storage_worker(cloud) != worker:
                return
        except (requests.RequestException, AssertionError):
            pass
        time.sleep(0.2)
    raise AssertionError("storage did not come back")


@pytest.fixture(scope="module")
def token(cloud):
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    return requests.post(cloud.url("identity", "/v3/auth/tokens"), json=auth, timeout=30).headers["X-Subject-Token"]


def temp_files(root: Path):
    return [p for p in root.rglob(".tmp-*")]


def test_image_upload_killed_midway(cloud, token):
    h = {"X-Auth-Token": token}
    img = requests.post(cloud.url("image", "/v2/images"), headers=h, timeout=30,
                        json={"name": "crash", "disk_format": "raw", "container_format": "bare"}).json()
    images = cloud.state_dir / "storage" / "images"

    def busy():
        return requests.get(cloud.url("image", f"/v2/images/{img['id']}"), headers=h, timeout=5).json()["status"] \
            == "saving" and bool(temp_files(images))

    upload_until_killed(cloud, "PUT", cloud.url("image", f"/v2/images/{img['id']}/file"),
                        {**h, "Content-Type": "application/octet-stream"}, busy)
    shown = requests.get(cloud.url("image", f"/v2/images/{img['id']}"), headers=h, timeout=10).json()
    assert shown["status"] == "queued" and shown["size"] is None
    assert temp_files(images) == [] and not (images / img["id"]).exists()
    # and the image can be uploaded again
    r = requests.put(cloud.url("image", f"/v2/images/{img['id']}/file"), data=b"\0" * 4096, timeout=30,
                     headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204


def test_s3_put_killed_midway(cloud):
    cred = cloud.openstack_json("ec2", "credentials", "create")
    s3 = boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=cred["access"],
                      aws_secret_access_key=cred["secret"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="crash")
    s3.put_object(Bucket="crash", Key="obj", Body=b"old version")
    objects = cloud.state_dir / "storage" / "objects"
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "crash", "Key": "obj"}, ExpiresIn=300)
    upload_until_killed(cloud, "PUT", url, {}, lambda: bool(temp_files(objects)))
    assert s3.get_object(Bucket="crash", Key="obj")["Body"].read() == b"old version"
    assert temp_files(objects) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="crash")["Contents"]] == ["obj"]
