"""S3 errors: the code and status each S3 client expects, rendered as S3's XML error document."""
from __future__ import annotations

from xml.sax.saxutils import escape

from flask import Response, g, request

from appliance.errors import ApiError

STATUS = {
    "AccessDenied": 403, "BadDigest": 400, "BucketAlreadyExists": 409, "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409, "EntityTooLarge": 400, "EntityTooSmall": 400, "IncompleteBody": 400,
    "InternalError": 500, "InvalidAccessKeyId": 403, "InvalidArgument": 400, "InvalidBucketName": 400,
    "InvalidDigest": 400, "InvalidPart": 400, "InvalidPartOrder": 400, "InvalidRange": 416,
    "InvalidRequest": 400, "KeyTooLongError": 400, "MalformedXML": 400, "MetadataTooLarge": 400,
    "MethodNotAllowed": 405, "MissingContentLength": 411, "NoSuchBucket": 404, "NoSuchKey": 404,
    "NoSuchUpload": 404, "NotImplemented": 501, "RequestTimeTooSkewed": 403, "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400, "AuthorizationQueryParametersError": 400, "ExpiredToken": 400,
    "InvalidObjectState": 403, "PreconditionFailed": 412, "MalformedPOSTRequest": 400,
    "UnexpectedContent": 400, "InvalidChunkSizeError": 400,
}


class S3Error(ApiError):
    def __init__(self, code: str, message: str, status: int | None = None, **extra):
        super().__init__(message, status=status or STATUS.get(code, 400), kind=code)
        self.code = code
        self.extra = extra


def render(err: ApiError) -> Response:
    code = getattr(err, "code", None) or {403: "AccessDenied", 404: "NoSuchKey", 405: "MethodNotAllowed",
                                          413: "EntityTooLarge"}.get(err.status, "InternalError"
                                                                       if err.status >= 500 else "InvalidRequest")
    request_id = g.get("request_id", "")
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in getattr(err, "extra", {}).items())
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(err.message)}</Message>{extra}"
            f"<Resource>{escape(request.path)}</Resource><RequestId>{request_id}</RequestId></Error>")
    resp = Response(b"" if request.method == "HEAD" else body.encode(), status=err.status,
                    mimetype="application/xml")
    resp.headers["x-amz-request-id"] = request_id
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp
