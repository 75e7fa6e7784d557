"""S3 through unmodified boto3 (default config, path-style) against a real `egret up`, keys from identity."""
from __future__ import annotations

import hashlib
import os
import time

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024


def s3_client(cloud, access, secret):
    return boto3.client("s3", endpoint_url=cloud.url("s3"), aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def s3(cloud):
    cred = cloud.openstack_json("ec2", "credentials", "create")
    return s3_client(cloud, cred["access"], cred["secret"])


@pytest.fixture(scope="module")
def bob_s3(cloud, other):
    cred = other.openstack_json("ec2", "credentials", "create")
    return s3_client(cloud, cred["access"], cred["secret"])


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_buckets_objects_listing_copy_delete(s3):
    s3.create_bucket(Bucket="photos")
    assert "photos" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="photos")
    assert s3.get_bucket_location(Bucket="photos")["LocationConstraint"] in (None, "")
    s3.put_object(Bucket="photos", Key="2024/a.jpg", Body=b"A" * 1000, ContentType="image/jpeg",
                  Metadata={"camera": "x100"})
    s3.put_object(Bucket="photos", Key="2024/b.jpg", Body=b"B" * 10)
    s3.put_object(Bucket="photos", Key="2025/c.jpg", Body=b"C")
    s3.put_object(Bucket="photos", Key="readme", Body=b"hello")
    got = s3.get_object(Bucket="photos", Key="2024/a.jpg")
    assert got["Body"].read() == b"A" * 1000 and got["Metadata"] == {"camera": "x100"}
    assert got["ContentType"] == "image/jpeg"
    head = s3.head_object(Bucket="photos", Key="2024/a.jpg")
    assert head["ContentLength"] == 1000 and head["ETag"] == f'"{hashlib.md5(b"A" * 1000).hexdigest()}"'
    part = s3.get_object(Bucket="photos", Key="readme", Range="bytes=1-3")
    assert part["Body"].read() == b"ell" and part["ContentRange"] == "bytes 1-3/5"
    listing = s3.list_objects_v2(Bucket="photos", Delimiter="/")
    assert [c["Prefix"] for c in listing["CommonPrefixes"]] == ["2024/", "2025/"]
    assert [o["Key"] for o in listing["Contents"]] == ["readme"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="photos", Prefix="2024/")["Contents"]] == \
        ["2024/a.jpg", "2024/b.jpg"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="photos", PaginationConfig={"PageSize": 2})
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys == ["2024/a.jpg", "2024/b.jpg", "2025/c.jpg", "readme"]
    s3.copy_object(Bucket="photos", Key="copy.jpg", CopySource={"Bucket": "photos", "Key": "2024/a.jpg"})
    assert s3.get_object(Bucket="photos", Key="copy.jpg")["Metadata"] == {"camera": "x100"}
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="photos")
    assert error_code(exc) == "BucketNotEmpty"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="photos", Key="missing")
    assert error_code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="nope-bucket", Key="x")
    assert error_code(exc) == "NoSuchBucket"
    out = s3.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted(keys)
    s3.delete_object(Bucket="photos", Key="copy.jpg")
    assert s3.list_objects_v2(Bucket="photos")["KeyCount"] == 0
    s3.delete_bucket(Bucket="photos")
    assert "photos" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_multipart_100mb_upload_and_download(s3, tmp_path):
    s3.create_bucket(Bucket="big")
    src = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with open(src, "wb") as fh:
        for i in range(100):
            fh.write(block[i:] + block[:i])
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=16 * MiB)
    s3.upload_file(str(src), "big", "blob.bin", Config=config)
    head = s3.head_object(Bucket="big", Key="blob.bin")
    assert head["ContentLength"] == 100 * MiB and head["ETag"].endswith('-7"')
    dst = tmp_path / "back.bin"
    s3.download_file("big", "blob.bin", str(dst), Config=config)
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == digest
    s3.delete_object(Bucket="big", Key="blob.bin")


def test_multipart_low_level_and_errors(s3):
    s3.create_bucket(Bucket="parts")
    up = s3.create_multipart_upload(Bucket="parts", Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket="parts", Key="k", UploadId=up, PartNumber=1, Body=b"x" * 100)["ETag"]
    e2 = s3.upload_part(Bucket="parts", Key="k", UploadId=up, PartNumber=2, Body=b"y")["ETag"]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket="parts", Key="k", UploadId=up)["Parts"]] == [1, 2]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="parts")["Uploads"]] == [up]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket="parts", Key="k", UploadId=up, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert error_code(exc) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket="parts", Key="k", UploadId=up)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket="parts", Key="k", UploadId=up)
    assert error_code(exc) == "NoSuchUpload"
    s3.delete_bucket(Bucket="parts")


def test_presigned_get_and_expiry(s3):
    s3.create_bucket(Bucket="share")
    s3.put_object(Bucket="share", Key="doc.txt", Body=b"shared text")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "share", "Key": "doc.txt"}, ExpiresIn=60)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"shared text", (url, r.content)
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "share", "Key": "doc.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(short, timeout=10)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content and b"expired" in r.content
    r = requests.get(url.replace("doc.txt", "doc.txx"), timeout=10)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
    s3.delete_object(Bucket="share", Key="doc.txt")
    s3.delete_bucket(Bucket="share")


def test_bad_credentials(cloud, s3):
    cred_s3 = s3_client(cloud, s3._request_signer._credentials.access_key, "wrong-secret")
    with pytest.raises(ClientError) as exc:
        cred_s3.list_buckets()
    assert error_code(exc) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as exc:
        s3_client(cloud, "AKNOTAKEY", "x").list_buckets()
    assert error_code(exc) == "InvalidAccessKeyId"


def test_project_isolation(s3, bob_s3):
    s3.create_bucket(Bucket="alice-private")
    s3.put_object(Bucket="alice-private", Key="secret", Body=b"for alice")
    assert "alice-private" not in [b["Name"] for b in bob_s3.list_buckets()["Buckets"]]
    for call in (lambda: bob_s3.get_object(Bucket="alice-private", Key="secret"),
                 lambda: bob_s3.put_object(Bucket="alice-private", Key="evil", Body=b"x"),
                 lambda: bob_s3.delete_object(Bucket="alice-private", Key="secret"),
                 lambda: bob_s3.list_objects_v2(Bucket="alice-private"),
                 lambda: bob_s3.delete_bucket(Bucket="alice-private")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        bob_s3.create_bucket(Bucket="alice-private")
    assert error_code(exc) == "BucketAlreadyExists"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="alice-private")["Contents"]] == ["secret"]
    assert s3.get_object(Bucket="alice-private", Key="secret")["Body"].read() == b"for alice"


def test_checksums_and_content_md5(s3):
    import base64
    s3.create_bucket(Bucket="sums")
    body = b"checksummed body" * 100
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket="sums", Key="md5", Body=body, ContentMD5=md5)
    out = s3.put_object(Bucket="sums", Key="sha", Body=body, ChecksumAlgorithm="SHA256")
    assert out["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    # botocore validates the returned checksum itself when asked to
    got = s3.get_object(Bucket="sums", Key="sha", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumSHA256"] == out["ChecksumSHA256"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="sums", Key="bad", Body=body, ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert error_code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="sums", Key="bad", Body=body, ChecksumCRC32="AAAAAA==")
    assert error_code(exc) == "BadDigest"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="sums")["Contents"]] == ["md5", "sha"]
    s3.delete_objects(Bucket="sums", Delete={"Objects": [{"Key": "md5"}, {"Key": "sha"}]})
    s3.delete_bucket(Bucket="sums")


def test_unusual_keys_round_trip(s3):
    s3.create_bucket(Bucket="keys")
    keys = ["with space/ü+plus=eq&amp;.txt", "../escape", "a//double", "tilde~*(paren)'quote'", "日本語/ファイル"]
    for key in keys:
        s3.put_object(Bucket="keys", Key=key, Body=key.encode())
        assert s3.get_object(Bucket="keys", Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="keys")["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "keys", "Key": keys[0]}, ExpiresIn=60)
    assert requests.get(url, timeout=10).content == keys[0].encode()
    s3.delete_objects(Bucket="keys", Delete={"Objects": [{"Key": k} for k in keys]})
    s3.delete_bucket(Bucket="keys")
