"""AWS Signature Version 4 for S3: Authorization header and presigned query, checked against the secret."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from services.storage.s3 import sigv2
from services.storage.s3.credentials import Credential, CredentialStore
from services.storage.s3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = datetime.timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_AUTH_RE = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


@dataclass
class AuthResult:
    credential: Credential
    payload_hash: str  # hex, UNSIGNED-PAYLOAD or a STREAMING-* mode
    signing_key: bytes
    scope: str
    amz_date: str
    seed_signature: str


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _uri_encode(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def canonical_query(raw_query: str, drop=("X-Amz-Signature",)) -> str:
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        if not item:
            continue
        key, _, value = item.partition("=")
        key, value = unquote(key), unquote(value)
        if key in drop:
            continue
        pairs.append((_uri_encode(key), _uri_encode(value)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_uri(environ, path: str) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        raw = raw.split("?", 1)[0]
        if raw.startswith(("http://", "https://")):
            raw = "/" + raw.split("/", 3)[-1] if raw.count("/") >= 3 else "/"
        return raw or "/"
    return _uri_encode(path, safe="/-_.~")


def _header(headers, name: str) -> str:
    values = headers.getlist(name) if hasattr(headers, "getlist") else [headers.get(name, "")]
    return ",".join(" ".join(v.strip().split()) for v in values)


def _parse_date(value: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None


def authenticate(request, creds: CredentialStore, now: datetime.datetime | None = None) -> AuthResult:
    """Verify the request's SigV4 signature; raises S3Error with S3's codes on failure."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    args = request.args
    auth = request.headers.get("Authorization")
    if ("Signature" in args and "AWSAccessKeyId" in args) or (auth or "").startswith("AWS "):
        # Signature Version 2: boto3's default for presigned S3 URLs; the payload is not signed
        cred = sigv2.verify(request, creds, canonical_uri(request.environ, request.path), now.timestamp())
        return AuthResult(cred, "UNSIGNED-PAYLOAD", b"", "", "", "")
    presigned = "X-Amz-Signature" in args
    if auth and presigned:
        raise S3Error("InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                      "parameter or the Authorization header should be specified")
    if presigned:
        if args.get("X-Amz-Algorithm") != ALGORITHM:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        credential, signed_headers = args.get("X-Amz-Credential", ""), args.get("X-Amz-SignedHeaders", "")
        signature, amz_date = args.get("X-Amz-Signature", ""), args.get("X-Amz-Date", "")
        try:
            expires = int(args.get("X-Amz-Expires", ""))
        except ValueError:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires should be a number") from None
        if not 1 <= expires <= 604800:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds")
        when = _parse_date(amz_date)
        if now > when + datetime.timedelta(seconds=expires):
            raise S3Error("AccessDenied", "Request has expired", Expires=(when + datetime.timedelta(
                seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ"), ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if when - now > MAX_SKEW:
            raise S3Error("AccessDenied", "Request is not valid yet")
        payload_hash = args.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
    elif auth:
        m = _AUTH_RE.match(auth.strip())
        if not m:
            raise S3Error("AuthorizationHeaderMalformed" if False else "AccessDenied",
                          "The authorization header is malformed")
        credential, signed_headers, signature = m.groups()
        amz_date = request.headers.get("x-amz-date", "")
        when = _parse_date(amz_date)
        if abs(now - when) > MAX_SKEW:
            raise S3Error("RequestTimeTooSkewed", "The difference between the request time and the current time "
                          "is too large.", RequestTime=amz_date, ServerTime=now.strftime("%Y%m%dT%H%M%SZ"))
        payload_hash = request.headers.get("x-amz-content-sha256")
        if not payload_hash:
            raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    else:
        raise S3Error("AccessDenied", "Access Denied: this request carries no AWS Signature Version 4")

    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or parts[3] != "s3":
        raise S3Error("AccessDenied", f"Invalid credential scope {'/'.join(parts[1:])!r}")
    access, date, region, service = parts[:4]
    if not amz_date.startswith(date):
        raise S3Error("SignatureDoesNotMatch", "The credential date does not match the request date")
    cred = creds.lookup(access)
    if cred is None:
        raise S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                      AWSAccessKeyId=access)
    names = signed_headers.split(";")
    if "host" not in names:
        raise S3Error("AccessDenied", "The host header must be signed")
    canonical_headers = "".join(f"{n}:{_header(request.headers, n)}\n" for n in names)
    canonical_request = "\n".join([
        request.method, canonical_uri(request.environ, request.path),
        canonical_query(request.environ.get("QUERY_STRING", "")), canonical_headers, signed_headers, payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = signing_key(cred.secret, date, region, service)
    expected = sign(key, string_to_sign)
    if not hmac.compare_digest(expected, signature):
        raise S3Error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                      "you provided. Check your key and signing method.", AWSAccessKeyId=access)
    return AuthResult(cred, payload_hash, key, scope, amz_date, signature)
