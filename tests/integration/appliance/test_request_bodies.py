"""Hostile request bodies and requests against real gunicorn units (`egret up`): chunked oversize bodies get 413,
stalled uploads are cut off, stalled clients do not starve others, gunicorn's own 4xx come in each API's format."""
import base64
import email.utils
import hashlib
import hmac
import json
import socket
import threading
import time

import boto3
import pytest

from appliance.testing.cloud import RunningCloud

IDLE = 3  # EGRET_REQUEST_IDLE_TIMEOUT for this cloud (the default is 10 s)
THREADS = 8


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    running = RunningCloud(tmp_path_factory.mktemp("bodies"), services=("identity", "compute", "network", "storage"),
                           extra_env={"EGRET_FAKE_DRIVERS": "1", "EGRET_REQUEST_IDLE_TIMEOUT": str(IDLE),
                                      "EGRET_THREADS": str(THREADS)})
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token(cloud):
    return cloud.admin_token()


@pytest.fixture(scope="module")
def project_id(cloud):
    return cloud.openstack_json("project", "show", "admin")["id"]


@pytest.fixture(scope="module")
def s3_key(cloud):
    """An EC2 credential of the admin, and a bucket it owns."""
    cred = {k.lower(): v for k, v in cloud.openstack_json("ec2", "credentials", "create").items()}
    s3 = boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=cred["access"],
                      aws_secret_access_key=cred["secret"], region_name="us-east-1")
    s3.create_bucket(Bucket="somebucket")
    return cred["access"], cred["secret"]


def _s3_auth(s3_key, method, resource, content_type="application/xml"):
    """SigV2 headers for a request (boto3 cannot send a chunked body of our choosing)."""
    access, secret = s3_key
    date = email.utils.formatdate(usegmt=True)
    sts = f"{method}\n\n{content_type}\n{date}\n{resource}"
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    return f"Date: {date}\r\nAuthorization: AWS {access}:{sig}\r\nContent-Type: {content_type}\r\n"


def _apis(project_id):
    """(port name, method, path, error-format check) of one JSON-bodied create on every API."""
    return [
        ("identity", "POST", "/v3/users", lambda b, s: b["error"]["code"] == s),
        ("compute", "POST", "/v2.1/servers", lambda b, s: b["overLimit" if s == 413 else "badRequest"]["code"] == s),
        ("network", "POST", "/v2.0/networks", lambda b, s: "NeutronError" in b),
        ("image", "POST", "/v2/images", lambda b, s: b["code"] == s and "message" in b),
        ("volume", "POST", f"/v3/{project_id}/volumes",
         lambda b, s: b["overLimit" if s == 413 else "badRequest"]["code"] == s),
        ("s3", "PUT", "/otherbucket", lambda b, s: b.startswith(b"<?xml") and b"<Code>" in b),
    ]


def _connect(cloud, name):
    return socket.create_connection(("127.0.0.1", cloud.ports[name]), timeout=30)


def _read_response(sock) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _parse(name, body):
    return body if name == "s3" else json.loads(body)


@pytest.mark.parametrize("api", range(6), ids=["identity", "compute", "network", "image", "volume", "s3"])
def test_chunked_oversize_body_is_413(cloud, token, project_id, s3_key, api):
    name, method, path, check = _apis(project_id)[api]
    total = 40 * 1024 * 1024  # the issue's 40 MB: more than the 1 MiB limit, and never held in memory
    sock = _connect(cloud, name)
    auth = (_s3_auth(s3_key, method, path) if name == "s3"
            else f"X-Auth-Token: {token}\r\nContent-Type: application/json\r\n")
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"[" * 65536

    def send():
        try:
            sent = 0
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may stop reading once it has answered
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    status, _, body = _read_response(sock)
    sock.close()
    assert status == 413, body
    assert check(_parse(name, body), 413), body


def test_stalled_upload_is_cut_off(cloud, token):
    sock = _connect(cloud, "image")
    sock.sendall(f"POST /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\nContent-Type: application/json"
                 f"\r\nContent-Length: 1000\r\n\r\n{{\"name\": ".encode())
    started = time.monotonic()
    status, _, body = _read_response(sock)
    elapsed = time.monotonic() - started
    assert status == 408, body
    assert json.loads(body)["code"] == 408
    assert IDLE - 0.5 < elapsed < IDLE + 5
    assert sock.recv(1) == b""  # and the connection is closed
    sock.close()


def test_slow_drip_upload_is_cut_off_at_the_body_deadline_not_kept_for_ever(cloud, token):
    """A byte every second never trips the idle timeout; the idle clock restarts with each, so it is held until
    the body deadline (60 s) at most. Here: the drip keeps the connection, and stopping it gets the 408."""
    sock = _connect(cloud, "identity")
    sock.sendall(b"POST /v3/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500"
                 b"\r\n\r\n{")
    for _ in range(IDLE + 2):  # longer than the idle timeout in all, each byte within it
        time.sleep(1)
        sock.sendall(b" ")
    started = time.monotonic()
    status, _, body = _read_response(sock)
    assert status == 408 and json.loads(body)["error"]["code"] == 408
    assert time.monotonic() - started < IDLE + 3
    sock.close()


def test_expect_100_continue_is_answered_before_the_body(cloud, token):
    """Clients that send `Expect: 100-continue` (boto3, curl) wait for it before the body: it must come at once,
    not after the worker has waited for a body that is not coming."""
    sock = _connect(cloud, "image")
    body = json.dumps({"name": "expect", "disk_format": "raw", "container_format": "bare"}).encode()
    sock.sendall(f"POST /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\nContent-Type: "
                 f"application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
    sock.settimeout(2)
    assert sock.recv(25).startswith(b"HTTP/1.1 100 Continue")
    sock.settimeout(30)
    sock.sendall(body)
    data = b""
    while b"\r\n\r\n" not in data.split(b"100 Continue\r\n\r\n", 1)[-1]:
        data += sock.recv(65536)
    rest = data.split(b"100 Continue\r\n\r\n", 1)[-1]
    assert rest.startswith(b"HTTP/1.1 201"), data
    sock.close()


def test_boto3_put_object_with_expect_100_continue(cloud, s3_key):
    s3 = boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=s3_key[0],
                      aws_secret_access_key=s3_key[1], region_name="us-east-1")
    started = time.monotonic()
    for size in (10, 500 * 1024, 3 * 1024 * 1024):  # under and over the in-memory limit
        s3.put_object(Bucket="somebucket", Key=f"k{size}", Body=b"z" * size)
        assert s3.get_object(Bucket="somebucket", Key=f"k{size}")["Body"].read() == b"z" * size
    assert time.monotonic() - started < 10  # no 1 s wait per PUT for a 100 Continue that never came


def test_stalled_chunked_upload_is_cut_off(cloud, token):
    sock = _connect(cloud, "network")
    sock.sendall(f"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                 f"Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"net".encode())
    status, _, body = _read_response(sock)
    assert status == 408 and json.loads(body)["NeutronError"]
    sock.close()


def test_twenty_stalled_clients_do_not_stop_a_normal_request(cloud, token):
    stalled = []
    for _ in range(20):
        s = _connect(cloud, "image")
        s.sendall(f"PUT /v2/images/x/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                  f"Content-Length: 100000\r\n\r\nabc".encode())
        stalled.append(s)
    time.sleep(0.5)
    started = time.monotonic()
    sock = _connect(cloud, "image")
    sock.sendall(f"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n\r\n".encode())
    status, _, body = _read_response(sock)
    elapsed = time.monotonic() - started
    print(f"normal request behind 20 stalled clients ({THREADS} threads, {IDLE} s idle timeout): {elapsed:.1f} s")
    assert status == 200 and "images" in json.loads(body)
    # a stalled Content-Length body waits in the worker's poller, not in a thread: no waiting for timeouts
    assert elapsed < IDLE
    for s in stalled:
        s.close()
    sock.close()


RAW_CASES = {
    "414": (lambda p, t: f"GET {p}?{'x' * 10000} HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "431": (lambda p, t: f"GET {p} HTTP/1.1\r\nHost: x\r\nX-Big: {'y' * 9000}\r\n\r\n", 431),
    "bad-content-length": (lambda p, t: f"POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{{}}", 400),
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
@pytest.mark.parametrize("api", range(6), ids=["identity", "compute", "network", "image", "volume", "s3"])
def test_gunicorn_errors_come_in_the_api_format(cloud, token, project_id, api, case):
    name, _, path, check = _apis(project_id)[api]
    make, expected = RAW_CASES[case]
    sock = _connect(cloud, name)
    sock.sendall(make(path.split("?")[0], token).encode())
    status, headers, body = _read_response(sock)
    sock.close()
    assert status == expected, body
    if name == "s3":
        assert headers["content-type"].startswith("application/xml") and b"<Code>" in body
    else:
        doc = json.loads(body)
        fault = doc.get("error") or doc.get("NeutronError") or doc.get(next(iter(doc)))
        assert fault.get("code", expected) == expected and fault["message"], doc
