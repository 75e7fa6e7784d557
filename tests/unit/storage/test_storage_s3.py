"""S3 API through botocore's own signer: auth failures, objects, listing, multipart, chunked uploads, isolation."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import zlib
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.unit.storage.storage_testlib import ALICE, BOB, db_state, files_under

MiB = 1024 * 1024


def code_of(r):
    import xml.etree.ElementTree as ET
    root = ET.fromstring(r.data)
    assert root.tag == "Error", r.data
    return root.findtext("Code")


def assert_s3_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.data)
    assert r.mimetype == "application/xml"
    assert code_of(r) == code, r.data


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.fixture
def bucket(s3):
    assert s3.request("PUT", "/data").status_code == 200
    return "/data"


def objects_dir(settings):
    return settings.state_dir / "storage" / "objects"


@contextlib.contextmanager
def server_clock(offset_seconds):
    """Run the server's SigV4 clock `offset_seconds` ahead of the client's."""
    import datetime
    from unittest import mock
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    with mock.patch("services.storage.s3.sigv4.datetime") as dt:
        dt.datetime.now.return_value = later
        dt.datetime.strptime = datetime.datetime.strptime
        dt.timedelta = datetime.timedelta
        dt.timezone = datetime.timezone
        yield


# --- authentication ---------------------------------------------------------------------------------------------
def test_unsigned_wrong_secret_unknown_key_and_skew(s3, s3_client):
    from services.storage.s3.credentials import Credential
    assert_s3_error(s3_client.get("/"), 403, "AccessDenied")
    assert_s3_error(s3.request("GET", "/", cred=Credential(ALICE.access, "wrong", "p")), 403,
                    "SignatureDoesNotMatch")
    assert_s3_error(s3.request("GET", "/", cred=Credential("AKNOBODY", "x", "p")), 403, "InvalidAccessKeyId")
    with server_clock(3600):
        r = s3.request("GET", "/")
    assert_s3_error(r, 403, "RequestTimeTooSkewed")
    r = s3_client.get("/", headers={"Authorization": "AWS AKALICE:abc"})
    assert_s3_error(r, 403, "AccessDenied")  # V2 without a Date header


def test_tampered_request_fails_signature(s3, s3_client, bucket):
    url = "http://localhost/data/k"
    req = AWSRequest(method="PUT", url=url, data=b"good", headers={})
    S3SigV4Auth(Credentials(ALICE.access, ALICE.secret), "s3", "us-east-1").add_auth(req)
    before = db_state()
    r = s3_client.put("/data/k", data=b"evil", headers=dict(req.headers.items()))
    assert_s3_error(r, 400, "XAmzContentSHA256Mismatch")
    r = s3_client.put("/data/other", data=b"good", headers=dict(req.headers.items()))
    assert_s3_error(r, 403, "SignatureDoesNotMatch")
    assert db_state() == before


def assert_tampered_and_expired_refused(s3_client, url, tampered):
    """A presigned `url` altered (`tampered`) does not match its signature; two minutes on, it has expired."""
    assert_s3_error(s3_client.get(tampered), 403, "SignatureDoesNotMatch")
    with server_clock(120):
        r = s3_client.get(url)
    assert_s3_error(r, 403, "AccessDenied")
    assert b"expired" in r.data


def test_presigned_get_and_expiry(s3, s3_client, bucket):
    s3.request("PUT", "/data/doc.txt", body=b"presigned!")
    url = s3.presign("GET", "/data/doc.txt")
    r = s3_client.get(url)
    assert r.status_code == 200 and r.data == b"presigned!"
    # tampering with the signed query breaks it
    assert_tampered_and_expired_refused(s3_client, url, url.replace("doc.txt", "doc.txu"))


# --- buckets ------------------------------------------------------------------------------------------------------
def test_bucket_lifecycle_and_names(s3):
    assert s3.request("PUT", "/alpha").status_code == 200
    body = b'<CreateBucketConfiguration><LocationConstraint>edge-1</LocationConstraint></CreateBucketConfiguration>'
    assert s3.request("PUT", "/beta", body=body).status_code == 200
    assert b"edge-1" in s3.request("GET", "/beta", query="location=").data
    assert s3.request("HEAD", "/beta").headers["x-amz-bucket-region"] == "edge-1"
    listing = s3.request("GET", "/").data
    assert b"<Name>alpha</Name>" in listing and b"<Name>beta</Name>" in listing
    assert_s3_error(s3.request("PUT", "/alpha"), 409, "BucketAlreadyOwnedByYou")
    assert_s3_error(s3.request("PUT", "/alpha", cred=BOB), 409, "BucketAlreadyExists")
    before = db_state()
    for name in ("ab", "UPPER", "a..b", "-dash", "x" * 64, "192.168.1.1", "bad_name"):
        assert_s3_error(s3.request("PUT", f"/{name}"), 400, "InvalidBucketName")
    assert_s3_error(s3.request("PUT", "/gamma", body=b"<not-xml"), 400, "MalformedXML")
    assert db_state() == before
    s3.request("PUT", "/alpha/k", body=b"x")
    assert_s3_error(s3.request("DELETE", "/alpha"), 409, "BucketNotEmpty")
    s3.request("DELETE", "/alpha/k")
    assert s3.request("DELETE", "/alpha").status_code == 204
    assert_s3_error(s3.request("HEAD", "/alpha"), 404, "NoSuchBucket") if False else None
    assert s3.request("HEAD", "/alpha").status_code == 404
    assert_s3_error(s3.request("GET", "/alpha"), 404, "NoSuchBucket")


def test_project_isolation(s3, bucket, settings):
    s3.request("PUT", "/data/secret", body=b"alice only")
    before, files = db_state(), files_under(objects_dir(settings))
    for method, path, query in [("GET", "/data/secret", ""), ("HEAD", "/data", ""), ("GET", "/data", "list-type=2"),
                                ("PUT", "/data/x", ""), ("DELETE", "/data/secret", ""), ("DELETE", "/data", ""),
                                ("POST", "/data/x", "uploads=")]:
        r = s3.request(method, path, cred=BOB, query=query)
        assert r.status_code == 403, (method, path, r.status_code)
        if method != "HEAD":
            assert code_of(r) == "AccessDenied"
    r = s3.request("PUT", "/mine/copy", cred=BOB)
    assert b"data" not in s3.request("GET", "/", cred=BOB).data
    assert db_state() == before and files_under(objects_dir(settings)) == files
    assert r.status_code == 404


# --- objects ------------------------------------------------------------------------------------------------------
def test_put_get_head_range_metadata_delete(s3, bucket):
    data = bytes(range(256)) * 10
    r = s3.request("PUT", "/data/dir/file.bin", body=data, headers={
        "Content-Type": "application/x-test", "x-amz-meta-color": "blue",
        "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
        "x-amz-checksum-crc32": crc32_b64(data)})
    assert r.status_code == 200 and r.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    r = s3.request("GET", "/data/dir/file.bin", headers={"x-amz-checksum-mode": "ENABLED"})
    assert r.data == data and r.headers["x-amz-meta-color"] == "blue"
    assert r.headers["Content-Type"] == "application/x-test" and r.headers["x-amz-checksum-crc32"] == crc32_b64(data)
    h = s3.request("HEAD", "/data/dir/file.bin")
    assert h.status_code == 200 and h.headers["Content-Length"] == str(len(data)) and h.data == b""
    r = s3.request("GET", "/data/dir/file.bin", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.data == data[10:20] and r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = s3.request("GET", "/data/dir/file.bin", headers={"Range": "bytes=-5"})
    assert r.data == data[-5:]
    assert_s3_error(s3.request("GET", "/data/dir/file.bin", headers={"Range": "bytes=99999-"}), 416, "InvalidRange")
    assert s3.request("DELETE", "/data/dir/file.bin").status_code == 204
    assert_s3_error(s3.request("GET", "/data/dir/file.bin"), 404, "NoSuchKey")
    assert s3.request("DELETE", "/data/dir/file.bin").status_code == 204  # idempotent


def test_overwrite_replaces_atomically_and_cleans_old_file(s3, bucket, settings):
    s3.request("PUT", "/data/k", body=b"one")
    s3.request("PUT", "/data/k", body=b"two")
    assert s3.request("GET", "/data/k").data == b"two"
    assert len(files_under(objects_dir(settings))) == 1


@pytest.mark.parametrize("headers,code", [
    ({"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()}, "BadDigest"),
    ({"Content-MD5": "not-base64!"}, "InvalidDigest"),
    ({"x-amz-checksum-crc32": crc32_b64(b"other")}, "BadDigest"),
    ({"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(b"x").digest()).decode()}, "BadDigest"),
    ({"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}, None),
    ({"x-amz-meta-big": "x" * 3000}, "MetadataTooLarge"),
])
def test_put_bad_digests_and_metadata_change_nothing(s3, bucket, settings, headers, code):
    s3.request("PUT", "/data/k", body=b"original")
    before, files = db_state(), files_under(objects_dir(settings))
    r = s3.request("PUT", "/data/k", body=b"payload", headers=headers)
    if code is None:  # an algorithm we do not know is ignored like any unknown header
        assert r.status_code == 200
        return
    assert_s3_error(r, 400, code)
    assert db_state() == before and files_under(objects_dir(settings)) == files
    assert s3.request("GET", "/data/k").data == b"original"


def test_keys_are_opaque_no_path_traversal(s3, bucket, settings):
    outside = settings.state_dir / "storage" / "escape"
    for key in ("../escape", "../../escape", "a/../../escape", "..", "./x", "%2e%2e/escape"):
        path = "/data/" + quote(key, safe="/")
        assert s3.request("PUT", path, body=key.encode()).status_code == 200, key
        assert s3.request("GET", path).data == key.encode()
    assert not outside.exists() and not (settings.state_dir / "escape").exists()
    # every file lives directly in the bucket's directory under a generated name
    assert all(f.count("/") == 1 for f in files_under(objects_dir(settings)))
    assert_s3_error(s3.request("PUT", "/data/" + "k" * 1025, body=b""), 400, "KeyTooLongError")


def test_truncated_upload_changes_nothing(s3, s3_client, bucket, settings):
    import io
    url = "http://localhost/data/t"
    req = AWSRequest(method="PUT", url=url, data=b"x" * 1000, headers={})
    S3SigV4Auth(Credentials(ALICE.access, ALICE.secret), "s3", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
    before = db_state()
    r = s3_client.put("/data/t", input_stream=io.BytesIO(b"x" * 100), headers=headers,
                      environ_overrides={"CONTENT_LENGTH": "1000"})
    assert_s3_error(r, 400, "IncompleteBody")
    assert db_state() == before and files_under(objects_dir(settings)) == []


def test_copy_object(s3, bucket):
    s3.request("PUT", "/data/src", body=b"copy me", headers={"x-amz-meta-a": "1", "Content-Type": "text/plain"})
    r = s3.request("PUT", "/data/dst", headers={"x-amz-copy-source": "/data/src"})
    assert r.status_code == 200 and b"<CopyObjectResult" in r.data
    got = s3.request("GET", "/data/dst")
    assert got.data == b"copy me" and got.headers["x-amz-meta-a"] == "1"
    r = s3.request("PUT", "/data/dst2", headers={"x-amz-copy-source": "data/src", "x-amz-metadata-directive": "REPLACE",
                                                 "x-amz-meta-b": "2"})
    got = s3.request("GET", "/data/dst2")
    assert got.headers.get("x-amz-meta-b") == "2" and "x-amz-meta-a" not in got.headers
    before = db_state()
    assert_s3_error(s3.request("PUT", "/data/x", headers={"x-amz-copy-source": "/data/missing"}), 404, "NoSuchKey")
    assert_s3_error(s3.request("PUT", "/data/src", headers={"x-amz-copy-source": "/data/src"}), 400, "InvalidRequest")
    s3.request("PUT", "/bobs", cred=BOB)
    s3.request("PUT", "/bobs/secret", body=b"b", cred=BOB)
    before = db_state()
    assert_s3_error(s3.request("PUT", "/data/stolen", headers={"x-amz-copy-source": "/bobs/secret"}), 403,
                    "AccessDenied")
    assert db_state() == before


# --- listing ------------------------------------------------------------------------------------------------------
def _keys(xml):
    import re
    return re.findall(rb"<Key>([^<]*)</Key>", xml), re.findall(rb"<Prefix>([^<]*)</Prefix>", xml)


def test_list_v2_prefix_delimiter_continuation(s3, bucket):
    for key in ("a/1", "a/2", "a/b/3", "b", "c/4", "c/5"):
        s3.request("PUT", f"/data/{key}", body=b".")
    keys, prefixes = _keys(s3.request("GET", "/data", query="delimiter=%2F&list-type=2").data)
    assert keys == [b"b"] and prefixes[1:] == [b"a/", b"c/"]
    keys, prefixes = _keys(s3.request("GET", "/data", query="delimiter=%2F&list-type=2&prefix=a%2F").data)
    assert keys == [b"a/1", b"a/2"] and prefixes == [b"a/", b"a/b/"]
    seen, token = [], None
    while True:
        q = "list-type=2&max-keys=2" + (f"&continuation-token={quote(token, safe='')}" if token else "")
        r = s3.request("GET", "/data", query=q)
        keys, _ = _keys(r.data)
        seen += keys
        import re
        m = re.search(rb"<NextContinuationToken>([^<]*)<", r.data)
        if not m:
            assert b"<IsTruncated>false</IsTruncated>" in r.data
            break
        token = m.group(1).decode()
    assert seen == [b"a/1", b"a/2", b"a/b/3", b"b", b"c/4", b"c/5"]
    keys, _ = _keys(s3.request("GET", "/data", query="list-type=2&start-after=b").data)
    assert keys == [b"c/4", b"c/5"]
    keys, _ = _keys(s3.request("GET", "/data", query="marker=c%2F4").data)  # ListObjects v1
    assert keys == [b"c/5"]
    assert_s3_error(s3.request("GET", "/data", query="list-type=2&max-keys=lots"), 400, "InvalidArgument")
    assert_s3_error(s3.request("GET", "/data", query="continuation-token=%25%25&list-type=2"), 400,
                    "InvalidArgument")


def test_list_url_encoding(s3, bucket):
    s3.request("PUT", "/data/" + quote("sp ace+plus", safe=""), body=b".")
    r = s3.request("GET", "/data", query="encoding-type=url&list-type=2")
    assert b"<Key>sp%20ace%2Bplus</Key>" in r.data and b"<EncodingType>url</EncodingType>" in r.data


def test_multi_delete(s3, bucket):
    for key in ("x", "y", "z"):
        s3.request("PUT", f"/data/{key}", body=b".")
    doc = b"<Delete><Object><Key>x</Key></Object><Object><Key>y</Key></Object><Object><Key>nope</Key></Object></Delete>"
    r = s3.request("POST", "/data", query="delete=", body=doc,
                   headers={"Content-MD5": base64.b64encode(hashlib.md5(doc).digest()).decode()})
    assert r.status_code == 200 and r.data.count(b"<Deleted>") == 3
    assert _keys(s3.request("GET", "/data", query="list-type=2").data)[0] == [b"z"]
    before = db_state()
    assert_s3_error(s3.request("POST", "/data", query="delete=", body=doc), 400, "InvalidRequest")
    bad = b"<Delete><Object/></Delete>"
    assert_s3_error(s3.request("POST", "/data", query="delete=", body=bad, headers={
        "Content-MD5": base64.b64encode(hashlib.md5(bad).digest()).decode()}), 400, "MalformedXML")
    assert db_state() == before


# --- multipart ----------------------------------------------------------------------------------------------------
def _initiate(s3, key="big"):
    import re
    r = s3.request("POST", f"/data/{key}", query="uploads=")
    return re.search(rb"<UploadId>([^<]+)<", r.data).group(1).decode()


def _complete_doc(parts):
    return ("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts) +
        "</CompleteMultipartUpload>").encode()


def test_multipart_upload(s3, bucket, settings):
    upload_id = _initiate(s3)
    p1, p2 = b"a" * (5 * MiB), b"tail"
    e1 = s3.request("PUT", "/data/big", query=f"partNumber=1&uploadId={upload_id}", body=p1).headers["ETag"]
    e2 = s3.request("PUT", "/data/big", query=f"partNumber=2&uploadId={upload_id}", body=p2).headers["ETag"]
    listed = s3.request("GET", "/data/big", query=f"uploadId={upload_id}").data
    assert listed.count(b"<Part>") == 2
    assert upload_id.encode() in s3.request("GET", "/data", query="uploads=").data
    r = s3.request("POST", "/data/big", query=f"uploadId={upload_id}", body=_complete_doc([(1, e1), (2, e2)]))
    assert r.status_code == 200, r.data
    expected = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest() + "-2"
    assert f'"{expected}"'.encode() in r.data or expected.encode() in r.data
    got = s3.request("GET", "/data/big", headers={"Range": f"bytes={5 * MiB - 2}-"})
    assert got.data == b"aatail"
    # parts are gone, only the object's file remains
    assert len(files_under(objects_dir(settings))) == 1
    assert_s3_error(s3.request("GET", "/data/big", query=f"uploadId={upload_id}"), 404, "NoSuchUpload")


def test_multipart_errors_change_nothing(s3, bucket):
    upload_id = _initiate(s3)
    e1 = s3.request("PUT", "/data/big", query=f"partNumber=1&uploadId={upload_id}", body=b"small").headers["ETag"]
    e2 = s3.request("PUT", "/data/big", query=f"partNumber=2&uploadId={upload_id}", body=b"x").headers["ETag"]
    before = db_state()
    url = f"uploadId={upload_id}"
    assert_s3_error(s3.request("POST", "/data/big", query=url, body=_complete_doc([(1, e1), (2, e2)])), 400,
                    "EntityTooSmall")
    assert_s3_error(s3.request("POST", "/data/big", query=url, body=_complete_doc([(2, e2), (1, e1)])), 400,
                    "InvalidPartOrder")
    assert_s3_error(s3.request("POST", "/data/big", query=url, body=_complete_doc([(1, '"00"')])), 400, "InvalidPart")
    assert_s3_error(s3.request("POST", "/data/big", query=url, body=b"<oops"), 400, "MalformedXML")
    assert_s3_error(s3.request("PUT", "/data/big", query=f"partNumber=0&uploadId={upload_id}", body=b"x"), 400,
                    "InvalidArgument")
    assert_s3_error(s3.request("PUT", "/data/big", query="partNumber=1&uploadId=bogus", body=b"x"), 404,
                    "NoSuchUpload")
    assert_s3_error(s3.request("PUT", "/data/other", query=f"partNumber=1&uploadId={upload_id}", body=b"x"), 404,
                    "NoSuchUpload")
    assert db_state() == before
    assert s3.request("DELETE", "/data/big", query=f"uploadId={upload_id}").status_code == 204
    assert_s3_error(s3.request("GET", "/data/big"), 404, "NoSuchKey")


# --- aws-chunked streaming uploads --------------------------------------------------------------------------------
class _StreamingAuth(S3SigV4Auth):
    def __init__(self, mode, *a, **kw):
        super().__init__(*a, **kw)
        self.mode = mode

    def payload(self, request):
        return self.mode


def _sign_streaming(method, path, mode, headers, cred=ALICE):
    req = AWSRequest(method=method, url="http://localhost" + path, data=b"", headers=headers)
    auth = _StreamingAuth(mode, Credentials(cred.access, cred.secret), "s3", "us-east-1")
    auth.add_auth(req)
    hdrs = dict(req.headers.items())
    seed = hdrs["Authorization"].rsplit("Signature=", 1)[1]
    date = hdrs["X-Amz-Date"]
    scope = f"{date[:8]}/us-east-1/s3/aws4_request"
    key = ("AWS4" + cred.secret).encode()
    for part in (date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hdrs, seed, date, scope, key


def _signed_chunks(chunks, seed, date, scope, key, trailer=None):
    out, prev = b"", seed
    empty = hashlib.sha256(b"").hexdigest()
    for chunk in list(chunks) + [b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", date, scope, prev, empty, hashlib.sha256(chunk).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + (b"\r\n" if chunk else b"")
        prev = sig
    if trailer is None:
        return out + b"\r\n"
    raw = "".join(f"{k}:{v}\n" for k, v in trailer.items()).encode()
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", date, scope, prev, hashlib.sha256(raw).hexdigest()])
    tsig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return out + "".join(f"{k}:{v}\r\n" for k, v in trailer.items()).encode() + \
        f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode()


def test_aws_chunked_unsigned_with_crc32_trailer(s3_client, bucket, settings):
    data = b"0123456789" * 7000
    hdrs, *_ = _sign_streaming("PUT", "/data/chunked", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", {
        "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(len(data))})
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (data[:65536], data[65536:]))
    good = body + b"0\r\n" + f"x-amz-checksum-crc32:{crc32_b64(data)}\r\n\r\n".encode()
    r = s3_client.put("/data/chunked", data=good, headers=hdrs)
    assert r.status_code == 200, r.data
    r = s3_client.get("/data/chunked", headers=dict(_sign_get("/data/chunked")))
    assert r.data == data and "Content-Encoding" not in r.headers
    before, files = db_state(), files_under(objects_dir(settings))
    bad = body + b"0\r\n" + f"x-amz-checksum-crc32:{crc32_b64(b'no')}\r\n\r\n".encode()
    assert_s3_error(s3_client.put("/data/chunked", data=bad, headers=hdrs), 400, "BadDigest")
    assert_s3_error(s3_client.put("/data/chunked", data=body[:100], headers=hdrs), 400, "IncompleteBody")
    assert_s3_error(s3_client.put("/data/chunked", data=b"zz\r\n" + body, headers=hdrs), 400, "InvalidChunkSizeError")
    assert db_state() == before and files_under(objects_dir(settings)) == files


def _sign_get(path):
    req = AWSRequest(method="GET", url="http://localhost" + path)
    S3SigV4Auth(Credentials(ALICE.access, ALICE.secret), "s3", "us-east-1").add_auth(req)
    return req.headers.items()


def test_aws_chunked_signed_chunks_and_trailer(s3_client, bucket, settings):
    data = b"signed-stream " * 5000
    chunks = [data[i:i + 16384] for i in range(0, len(data), 16384)]
    hdrs, seed, date, scope, key = _sign_streaming("PUT", "/data/signed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {
        "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data))})
    r = s3_client.put("/data/signed", data=_signed_chunks(chunks, seed, date, scope, key), headers=hdrs)
    assert r.status_code == 200, r.data
    assert s3_client.get("/data/signed", headers=dict(_sign_get("/data/signed"))).data == data
    before = db_state()
    tampered = _signed_chunks(chunks, seed, date, scope, key).replace(b"signed-stream", b"s1gned-stream", 1)
    assert_s3_error(s3_client.put("/data/signed", data=tampered, headers=hdrs), 403, "SignatureDoesNotMatch")
    assert db_state() == before
    hdrs, seed, date, scope, key = _sign_streaming(
        "PUT", "/data/trailed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", {
            "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data)),
            "X-Amz-Trailer": "x-amz-checksum-crc32"})
    body = _signed_chunks(chunks, seed, date, scope, key, trailer={"x-amz-checksum-crc32": crc32_b64(data)})
    assert s3_client.put("/data/trailed", data=body, headers=hdrs).status_code == 200


def test_signature_v2_header_and_presigned_query(s3, s3_client, bucket):
    """boto3's default presigned URL is Signature Version 2; its header form is accepted too."""
    from botocore.auth import HmacV1Auth, HmacV1QueryAuth
    s3.request("PUT", "/data/v2.txt", body=b"version two")
    creds = Credentials(ALICE.access, ALICE.secret)
    req = AWSRequest(method="GET", url="http://localhost/data/v2.txt")
    HmacV1QueryAuth(creds, expires=60).add_auth(req)
    url = req.url[len("http://localhost"):]
    assert "AWSAccessKeyId=" in url
    r = s3_client.get(url)
    assert r.status_code == 200 and r.data == b"version two"
    assert_tampered_and_expired_refused(s3_client, url, url.replace("v2.txt", "v3.txt"))
    req = AWSRequest(method="PUT", url="http://localhost/data/v2h", data=b"hdr", headers={"Content-Type": "text/x"})
    HmacV1Auth(creds).add_auth(req)
    r = s3_client.put("/data/v2h", data=b"hdr", headers=dict(req.headers.items()))
    assert r.status_code == 200
    bad = AWSRequest(method="GET", url="http://localhost/data/v2h")
    HmacV1Auth(Credentials(ALICE.access, "nope")).add_auth(bad)
    assert_s3_error(s3_client.get("/data/v2h", headers=dict(bad.headers.items())), 403, "SignatureDoesNotMatch")


def test_listing_is_in_binary_key_order(s3, bucket):
    for key in ("alpha", "Zeta", "_under", "Éclair", "a-b", "a/b"):
        s3.request("PUT", "/data/" + quote(key, safe="/"), body=b".")
    keys, _ = _keys(s3.request("GET", "/data", query="list-type=2").data)
    assert [k.decode() for k in keys] == sorted(["alpha", "Zeta", "_under", "Éclair", "a-b", "a/b"],
                                                key=lambda k: k.encode())
