"""Storage bench: S3 PUT/GET (4 KB, 1 MB, 64 MB) and image upload/download next to raw disk speed; prints JSON."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from appliance.testing.cloud import RunningCloud  # noqa: E402

MiB = 1024 * 1024


def drop_cache(path: Path) -> str:
    """Evict a file from the page cache so the next read hits the disk."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            os.sync()
            fh.write("3\n")
        return "drop_caches"
    except OSError:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return "fadvise_dontneed"


def raw_disk(directory: Path, size_mb: int = 256) -> dict:
    """dd-like sequential write (with fsync) and read of one file in the storage directory."""
    path = directory / "raw-bench.bin"
    block = os.urandom(MiB)
    start = time.perf_counter()
    with open(path, "wb") as fh:
        for _ in range(size_mb):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    write_s = time.perf_counter() - start
    method = drop_cache(path)
    start = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(MiB):
            pass
    read_s = time.perf_counter() - start
    path.unlink()
    return {"bytes": size_mb * MiB, "write_MBps": round(size_mb / write_s, 1), "read_MBps": round(size_mb / read_s, 1),
            "cache_eviction": method}


def rss_kb(cloud: RunningCloud) -> dict:
    state = json.loads((cloud.state_dir / "run" / "supervisor.json").read_text())
    master = state["units"]["storage"]["pid"]
    pids = [master] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == master]
    out = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["master" if pid == master else f"worker_{pid}"] = int(line.split()[1])
    out["total_kb"] = sum(v for v in out.values())
    return out


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def s3_bench(cloud: RunningCloud) -> dict:
    cred = cloud.openstack_json("ec2", "credentials", "create")
    s3 = boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=cred["access"],
                      aws_secret_access_key=cred["secret"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="bench")
    results = {}
    for label, size, count in (("4KB", 4096, 300), ("1MB", MiB, 60), ("64MB", 64 * MiB, 4)):
        body = os.urandom(size)
        start = time.perf_counter()
        for i in range(count):
            s3.put_object(Bucket="bench", Key=f"{label}/{i}", Body=body)
        put_s = time.perf_counter() - start
        cache = drop_cache(Path(__file__))  # GETs read from the disk, not from the page cache the PUTs filled
        start = time.perf_counter()
        for i in range(count):
            data = s3.get_object(Bucket="bench", Key=f"{label}/{i}")["Body"].read()
            assert len(data) == size
        get_s = time.perf_counter() - start
        results[label] = {"objects": count, "read_cache": cache, "put_MBps": round(size * count / MiB / put_s, 2),
                          "put_ops": round(count / put_s, 1), "get_MBps": round(size * count / MiB / get_s, 2),
                          "get_ops": round(count / get_s, 1)}
        s3.delete_objects(Bucket="bench", Delete={"Objects": [{"Key": f"{label}/{i}"} for i in range(count)]})
    return results


def image_bench(cloud: RunningCloud, scratch: Path, size_mb: int = 256) -> dict:
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    token = requests.post(cloud.url("identity", "/v3/auth/tokens"), json=auth, timeout=30).headers["X-Subject-Token"]
    h = {"X-Auth-Token": token}
    src = scratch / "image.raw"
    block = os.urandom(MiB)
    with open(src, "wb") as fh:
        for _ in range(size_mb):
            fh.write(block)
    img = requests.post(cloud.url("image", "/v2/images"), headers=h, timeout=30,
                        json={"name": "bench", "disk_format": "raw", "container_format": "bare"}).json()
    start = time.perf_counter()
    with open(src, "rb") as fh:
        r = requests.put(cloud.url("image", f"/v2/images/{img['id']}/file"), data=fh, timeout=600,
                         headers={**h, "Content-Type": "application/octet-stream"})
    up_s = time.perf_counter() - start
    assert r.status_code == 204, r.text
    drop_cache(src)
    start = time.perf_counter()
    got = 0
    with requests.get(cloud.url("image", f"/v2/images/{img['id']}/file"), headers=h, stream=True, timeout=600) as r:
        for chunk in r.iter_content(MiB):
            got += len(chunk)
    down_s = time.perf_counter() - start
    assert got == size_mb * MiB
    requests.delete(cloud.url("image", f"/v2/images/{img['id']}"), headers=h, timeout=30)
    src.unlink()
    return {"bytes": size_mb * MiB, "upload_MBps": round(size_mb / up_s, 1), "download_MBps": round(size_mb / down_s, 1)}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="egret-bench-storage-", dir=os.environ.get("BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        cloud = RunningCloud(tmp / "state", services=["identity", "storage"])
        cloud.start()
        try:
            storage_dir = cloud.state_dir / "storage"
            report = {"bench": "storage", "host_cpus": os.cpu_count(), "data_dir": str(storage_dir),
                      "raw_disk_before": raw_disk(storage_dir)}
            report["s3"] = s3_bench(cloud)
            report["image"] = image_bench(cloud, tmp)
            report["raw_disk_after"] = raw_disk(storage_dir)
            report["storage_rss_kb"] = rss_kb(cloud)
            report["notes"] = ("one gunicorn gthread worker (8 threads), loopback HTTP, single client; S3 "
                               "requests are SigV4-signed with payload SHA-256 and CRC32 (boto3 defaults over HTTP), "
                               "the server verifies both and MD5s every object; every write is fsynced")
        finally:
            cloud.stop()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
