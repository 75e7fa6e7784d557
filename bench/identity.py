"""Identity bench (JSON): password/token-method issue, validation p50/p99 with 1 and 8 clients, RSS; --peer keystone.

Usage: .venv/bin/python bench/identity.py [--n 200] [--peer keystone]
Egret runs through the real `egret up` (RunningCloud); the peer is Keystone from PyPI in a venv cached under
/var/cache/egret-bench, served by gunicorn (1 worker, 8 threads, like Egret) with its in-process memory cache.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import config  # noqa: E402
from appliance.testing.cloud import RunningCloud  # noqa: E402
from appliance.testing.plugin import free_port  # noqa: E402

CACHE = Path("/var/cache/egret-bench")
KS_VENV = CACHE / "venv-keystone"


# -- measurement ---------------------------------------------------------------------------------
def summarize(xs: list[float]) -> dict:
    xs = sorted(x * 1000 for x in xs)
    q = lambda p: xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]  # noqa: E731
    return {"n": len(xs), "p50_ms": round(statistics.median(xs), 2), "p90_ms": round(q(0.9), 2),
            "p99_ms": round(q(0.99), 2), "mean_ms": round(statistics.mean(xs), 2)}


def request(port, method, path, body=None, headers=None):
    # a new connection per request, as the reference Keystone bench does
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    dt = time.perf_counter() - t0
    conn.close()
    return resp, data, dt


def rss_kb(pids) -> dict:
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                out[str(pid)] = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))
        except (FileNotFoundError, StopIteration):
            out[str(pid)] = None
    return out


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except FileNotFoundError:
        return []


def measure(port: int, password: str, n: int, pids: list[int]) -> dict:
    pw_body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    jh = {"Content-Type": "application/json"}

    def issue(body):
        resp, data, dt = request(port, "POST", "/v3/auth/tokens", body, jh)
        assert resp.status == 201, (resp.status, data[:300])
        return resp.getheader("X-Subject-Token"), dt, len(data)

    before = rss_kb(pids)
    admin, _, _ = issue(pw_body)
    for _ in range(5):
        issue(pw_body)
    n_pw = max(20, n // 4)  # each costs a full KDF
    pw_times, sizes = [], set()
    for _ in range(n_pw):
        _, dt, size = issue(pw_body)
        pw_times.append(dt)
        sizes.add(size)
    unscoped, _, _ = issue(json.dumps({"auth": {"identity": json.loads(pw_body)["auth"]["identity"]}}))
    tm_body = json.dumps({"auth": {"identity": {"methods": ["token"], "token": {"id": admin}},
                                   "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    for _ in range(5):
        issue(tm_body)
    tm_times = [issue(tm_body)[1] for _ in range(n)]
    subject, _, _ = issue(pw_body)
    vh = {"X-Auth-Token": admin, "X-Subject-Token": subject}

    def validate(_=None):
        resp, data, dt = request(port, "GET", "/v3/auth/tokens", headers=vh)
        assert resp.status == 200, (resp.status, data[:300])
        return dt

    for _ in range(10):
        validate()
    one = [validate() for _ in range(n)]
    with ThreadPoolExecutor(8) as pool:
        t0 = time.perf_counter()
        eight = list(pool.map(validate, range(n * 2)))
        wall = time.perf_counter() - t0
    after = rss_kb(pids)
    return {
        "password_token_issue": {**summarize(pw_times), "response_bytes": sorted(sizes)},
        "token_method_issue": summarize(tm_times),
        "validate_1_client": summarize(one),
        "validate_8_clients": {**summarize(eight), "throughput_rps": round(len(eight) / wall, 1)},
        "rss_kb_before": before, "rss_kb_after": after,
        "unscoped_ok": bool(unscoped),
    }


# -- Egret ---------------------------------------------------------------------------------------
def scrypt_ms(log2n: int, rounds: int = 5) -> float:
    n = 2 ** log2n
    t0 = time.perf_counter()
    for _ in range(rounds):
        hashlib.scrypt(b"s3cret-password", salt=os.urandom(16), n=n, r=8, p=1, dklen=32,
                       maxmem=128 * 8 * n * 2 + 1024 * 1024)
    return round((time.perf_counter() - t0) / rounds * 1000, 2)


def run_egret(n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="egret-bench-id-"))
    cloud = RunningCloud(tmp / "state", services=["identity"])
    t0 = time.perf_counter()
    cloud.start()
    startup = time.perf_counter() - t0
    try:
        state = json.loads((cloud.state_dir / "run" / "supervisor.json").read_text())
        master = state["units"]["identity"]["pid"]
        pids = [master] + children(master)
        log2n = config.load(env=cloud.env).password_hash_log2n
        result = measure(cloud.ports["identity"], cloud.password, n, pids)
        result["server"] = {"name": "egret identity", "wsgi": "gunicorn gthread, 1 worker x 8 threads",
                            "database": "sqlite (WAL)", "egret_up_to_ready_s": round(startup, 2),
                            "master_pid": master, "worker_pids": pids[1:]}
        result["password_hash"] = {"kdf": "scrypt", "N": 2 ** log2n, "log2_N": log2n, "r": 8, "p": 1,
                                   "raw_kdf_ms": scrypt_ms(log2n)}
        return result
    finally:
        cloud.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# -- Keystone peer -------------------------------------------------------------------------------
KS_CONF = """[DEFAULT]
use_stderr = true
debug = false
log_file = {d}/keystone.log
[database]
connection = sqlite:///{d}/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = {d}/fernet-keys
[fernet_receipts]
key_repository = {d}/fernet-keys
[credential]
key_repository = {d}/credential-keys
[cache]
enabled = true
backend = dogpile.cache.memory
"""


def ensure_keystone_venv() -> Path:
    if not (KS_VENV / "bin" / "keystone-manage").exists() or not (KS_VENV / "bin" / "gunicorn").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(KS_VENV)], check=True)
        subprocess.run([str(KS_VENV / "bin" / "pip"), "install", "-q", "keystone", "gunicorn"], check=True)
    return KS_VENV


def run_keystone(n: int) -> dict:
    venv = ensure_keystone_venv()
    d = Path(tempfile.mkdtemp(prefix="egret-bench-ks-"))
    port = free_port()
    (d / "keystone.conf").write_text(KS_CONF.format(d=d))
    (d / "ks_wsgi.py").write_text("import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application  # noqa\n")
    km = [str(venv / "bin" / "keystone-manage"), "--config-file", str(d / "keystone.conf")]
    run = lambda *a: subprocess.run(km + list(a), check=True, capture_output=True)  # noqa: E731
    run("db_sync")
    run("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
    run("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
    url = f"http://127.0.0.1:{port}/v3/"
    run("bootstrap", "--bootstrap-password", "s3cret", "--bootstrap-region-id", "RegionOne",
        "--bootstrap-admin-url", url, "--bootstrap-internal-url", url, "--bootstrap-public-url", url)
    env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(d / "keystone.conf")}
    log = open(d / "gunicorn.out", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(venv / "bin" / "gunicorn"), "--chdir", str(d), "-b", f"127.0.0.1:{port}",
                             "-w", "1", "--worker-class", "gthread", "--threads", "8", "ks_wsgi:application"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while True:
            try:
                resp, _, _ = request(port, "GET", "/v3")
                if resp.status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise RuntimeError("keystone did not start: " + (d / "gunicorn.out").read_text()[-2000:])
            time.sleep(0.1)
        startup = time.perf_counter() - t0
        pids = [proc.pid] + children(proc.pid)
        result = measure(port, "s3cret", n, pids)
        version = subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import importlib.metadata as m; print(m.version('keystone'))"],
                                 capture_output=True, text=True).stdout.strip()
        bcrypt_ms = subprocess.run([str(venv / "bin" / "python"), "-c",
                                    "import bcrypt,time; h=bcrypt.hashpw(b's3cret', bcrypt.gensalt(12)); "
                                    "t=time.perf_counter(); [bcrypt.checkpw(b's3cret',h) for _ in range(5)]; "
                                    "print(round((time.perf_counter()-t)/5*1000,2))"],
                                   capture_output=True, text=True).stdout.strip()
        result["server"] = {"name": f"keystone {version}", "wsgi": "gunicorn gthread, 1 worker x 8 threads",
                            "database": "sqlite", "cache": "dogpile.cache.memory",
                            "start_to_ready_s": round(startup, 2), "master_pid": proc.pid,
                            "worker_pids": pids[1:]}
        result["password_hash"] = {"kdf": "bcrypt", "cost": 12, "raw_kdf_ms": float(bcrypt_ms or "nan")}
        return result
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="requests per latency series")
    parser.add_argument("--peer", choices=["keystone"], help="also measure this peer in the same run")
    args = parser.parse_args()
    out = {"bench": "identity", "host_cpus": os.cpu_count(), "method": "loopback, new TCP connection per request",
           "egret": run_egret(args.n)}
    if args.peer == "keystone":
        out["keystone"] = run_keystone(args.n)
        keys = ("password_token_issue", "token_method_issue", "validate_1_client", "validate_8_clients")
        out["side_by_side_p50_ms"] = {k: {"egret": out["egret"][k]["p50_ms"], "keystone": out["keystone"][k]["p50_ms"]}
                                      for k in keys}
        out["side_by_side_p99_ms"] = {k: {"egret": out["egret"][k]["p99_ms"], "keystone": out["keystone"][k]["p99_ms"]}
                                      for k in keys}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
