"""AWS Signature Version 2 (HMAC-SHA1): boto3 still presigns S3 URLs with it unless told s3v4."""
from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import hmac
from urllib.parse import unquote

from services.storage.s3.credentials import CredentialStore
from services.storage.s3.errors import S3Error

# the query parameters that are part of the signed resource (botocore's HmacV1Auth.QSAOfInterest)
SUBRESOURCES = {
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
    "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
    "response-content-type", "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
    "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select", "select-type",
    "object-lock"}
MAX_SKEW = 15 * 60


def canonical_resource(path: str, raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        key, sep, value = item.partition("=")
        if key in SUBRESOURCES:
            pairs.append((key, unquote(value) if sep else None))
    pairs.sort(key=lambda kv: kv[0])
    if not pairs:
        return path
    return path + "?" + "&".join(k if v is None else f"{k}={v}" for k, v in pairs)


def string_to_sign(request, date_value: str, path: str) -> str:
    h = request.headers
    amz = {}
    for name, value in h.items():
        lk = name.lower()
        if lk.startswith("x-amz-"):
            amz.setdefault(lk, []).append(value.strip())
    lines = [request.method.upper(), h.get("Content-MD5", "").strip(), h.get("Content-Type", "").strip(), date_value]
    lines += [f"{k}:{','.join(amz[k])}" for k in sorted(amz)]
    lines.append(canonical_resource(path, request.environ.get("QUERY_STRING", "")))
    return "\n".join(lines)


def verify(request, creds: CredentialStore, path: str, now: float):
    """Return the credential of a valid V2 request (header or presigned query); raise S3Error otherwise."""
    args = request.args
    if "Signature" in args:
        access, signature = args.get("AWSAccessKeyId", ""), args.get("Signature", "")
        expires = args.get("Expires", "")
        if not expires.isdigit():
            raise S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                          "AWSAccessKeyId parameters")
        if now > int(expires):
            raise S3Error("AccessDenied", "Request has expired", Expires=expires)
        date_value = expires
    else:
        header = request.headers.get("Authorization", "")
        access, _, signature = header[4:].rpartition(":")
        stamp = request.headers.get("x-amz-date") or request.headers.get("Date")
        try:
            parsed = email.utils.parsedate_to_datetime(stamp) if stamp else None
        except (TypeError, ValueError, OverflowError):  # an unparsable Date is the client's error, not ours
            parsed = None
        if parsed is None:
            raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        if parsed.tzinfo is None:  # "-0000" or no zone: RFC 5322 says UTC, not the server's local time
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        if abs(now - parsed.timestamp()) > MAX_SKEW:
            raise S3Error("RequestTimeTooSkewed", "The difference between the request time and the current time "
                          "is too large.")
        # with x-amz-date present the Date line is empty (the header is signed among the x-amz-* ones)
        date_value = "" if request.headers.get("x-amz-date") else request.headers.get("Date", "")
    cred = creds.lookup(access)
    if cred is None:
        raise S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                      AWSAccessKeyId=access)
    sts = string_to_sign(request, date_value, path)
    expected = base64.b64encode(hmac.new(cred.secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise S3Error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                      "you provided. Check your key and signing method.", AWSAccessKeyId=access)
    return cred
