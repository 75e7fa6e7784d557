"""S3 REST API (path-style): buckets, objects, listing, multi-delete, copy, multipart, presigned requests."""
from __future__ import annotations

import base64
import datetime
import email.utils
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from flask import Response, current_app, g, request, stream_with_context
from werkzeug.exceptions import HTTPException

from appliance import bodies, errors, routes
from appliance.app import max_body
from appliance.routes import PUBLIC, Route, RouteTable
from services.storage import store
from services.storage.s3 import errors as s3errors
from services.storage.s3 import sigv4
from services.storage.s3.errors import S3Error
from services.storage.s3.payload import Payload

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_LIMIT = 1024 * 1024
UNSUPPORTED_BUCKET_SUBRESOURCES = {"acl", "policy", "cors", "lifecycle", "tagging", "website", "logging",
                                   "notification", "replication", "encryption", "object-lock", "accelerate",
                                   "requestPayment", "ownershipControls", "publicAccessBlock", "versions",
                                   "analytics", "metrics", "inventory", "intelligent-tiering"}


def om():
    return routes.manager().objects


def _iso(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _http_date(dt) -> str:
    return email.utils.format_datetime(dt.replace(tzinfo=datetime.timezone.utc), usegmt=True)


def xml_response(root: str, body: str, status=200) -> Response:
    doc = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{body}</{root}>'
    return Response(doc.encode(), status=status, mimetype="application/xml")


def el(name, value) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def parse_xml(payload: Payload) -> ET.Element:
    raw = payload.read_all(XML_LIMIT)
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.") from None
    for node in root.iter():
        if "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    return root


def user_metadata() -> dict:
    meta = {}
    for name, value in request.headers.items():
        if name.lower().startswith("x-amz-meta-"):
            meta[name.lower()[11:]] = value
    for name in ("Cache-Control", "Content-Disposition", "Content-Language", "Expires"):
        if request.headers.get(name):
            meta[":" + name] = request.headers[name]
    encoding = [e.strip() for e in request.headers.get("Content-Encoding", "").split(",")
                if e.strip() and e.strip() != "aws-chunked"]
    if encoding:
        meta[":Content-Encoding"] = ",".join(encoding)
    return meta


def object_headers(obj) -> dict:
    headers = {"ETag": obj.etag, "Last-Modified": _http_date(obj.updated_at), "Accept-Ranges": "bytes",
               "Content-Type": obj.content_type or "binary/octet-stream"}
    for key, value in obj.metadata.items():
        if key.startswith(":"):
            headers[key[1:]] = value
        else:
            headers[f"x-amz-meta-{key}"] = value
    if obj.checksum and request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers[f"x-amz-checksum-{obj.checksum['algorithm'].lower()}"] = obj.checksum["value"]
    return headers


# --- the single entry point --------------------------------------------------------------------------------------
def s3_request(call):
    """Every S3 route: the request's signature (not a Keystone token) says who calls; the key's rights decide."""
    return dispatch(**call.args)


def dispatch(bucket=None, key=None):
    auth = sigv4.authenticate(request, routes.manager().credentials)
    g.s3_project = auth.credential.project_id
    if key is None or request.method == "POST":
        # only object PUTs (objects, parts) stream; every other body is an XML document, bounded whatever its
        # framing (a chunked body has no Content-Length for the views' checks)
        bodies.bound(XML_LIMIT)
    g.s3_payload = Payload(request.stream, auth, request.headers, request.content_length)
    method = request.method
    if bucket is None:
        if method == "GET":
            return list_buckets()
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")
    if method not in ("GET", "HEAD") and not auth.credential.can_write:
        raise S3Error("AccessDenied", "Access Denied")  # a reader's key, as a reader's token elsewhere
    if key is None:
        return bucket_op(bucket, method)
    return object_op(bucket, key, method)


# every method on every path: PUBLIC to the token middleware, as S3's signature is checked by dispatch itself
# (HEAD is served by each GET route); bodies stream, so no request-body limit applies
ROUTES = RouteTable("s3", [Route(method, path, PUBLIC, s3_request, wrap=(max_body(None),))
                           for path in ("/", "/<bucket>", "/<bucket>/<path:key>")
                           for method in ("GET", "PUT", "POST", "DELETE")])


def register(app):
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False  # "/bucket/" is the bucket, as in S3
    routes.register(app, ROUTES)

    def render_any(err):
        if isinstance(err, errors.ApiError):
            return s3errors.render(err)
        if isinstance(err, HTTPException):
            return s3errors.render(errors.ApiError(err.description or err.name, status=err.code or 500))
        current_app.logger.exception("unhandled S3 error")
        return s3errors.render(S3Error("InternalError", "We encountered an internal error. Please try again."))

    app.register_error_handler(errors.ApiError, render_any)
    app.register_error_handler(HTTPException, render_any)
    app.register_error_handler(Exception, render_any)

    @app.after_request
    def _request_id(resp):
        resp.headers["x-amz-request-id"] = g.get("request_id", "")
        return resp


# --- service / buckets --------------------------------------------------------------------------------------------
def list_buckets():
    items = "".join(f"<Bucket>{el('Name', b.name)}{el('CreationDate', _iso(b.created_at))}</Bucket>"
                    for b in om().buckets(g.s3_project))
    owner = f"<Owner>{el('ID', g.s3_project)}{el('DisplayName', g.s3_project)}</Owner>"
    return xml_response("ListAllMyBucketsResult", f"{owner}<Buckets>{items}</Buckets>")


def bucket_op(name, method):
    args = request.args
    unsupported = UNSUPPORTED_BUCKET_SUBRESOURCES & set(args)
    if unsupported:
        om().bucket(name, g.s3_project)
        raise S3Error("NotImplemented", f"The bucket subresource {sorted(unsupported)[0]!r} is not implemented.")
    if method == "PUT":
        if "versioning" in args:
            raise S3Error("NotImplemented", "Bucket versioning is not implemented yet.")
        location = ""
        if request.content_length or request.headers.get("x-amz-decoded-content-length"):
            root = parse_xml(g.s3_payload)
            node = root.find("LocationConstraint")
            location = (node.text or "") if node is not None else ""
        om().create_bucket(name, g.s3_project, location)
        resp = Response(status=200)
        resp.headers["Location"] = f"/{name}"
        return resp
    bucket = om().bucket(name, g.s3_project)
    if method == "HEAD":
        resp = Response(status=200)
        resp.headers["x-amz-bucket-region"] = bucket.location or "us-east-1"
        return resp
    if method == "DELETE":
        om().delete_bucket(name, g.s3_project)
        return Response(status=204)
    if method == "POST":
        if "delete" in args:
            return delete_objects(bucket)
        raise S3Error("NotImplemented", "POST on a bucket supports only ?delete.")
    if "location" in args:
        return xml_response("LocationConstraint", escape(bucket.location))
    if "versioning" in args:
        return xml_response("VersioningConfiguration", "")
    if "uploads" in args:
        return list_uploads(bucket)
    return list_objects(bucket)


def _max_keys():
    raw = request.args.get("max-keys", "1000")
    if not raw.isdigit():
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range",
                      ArgumentName="max-keys", ArgumentValue=raw)
    return min(int(raw), 1000)


def list_objects(bucket):
    args = request.args
    v2 = args.get("list-type") == "2"
    encode = args.get("encoding-type") == "url"
    if args.get("encoding-type") not in (None, "url"):
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")

    def enc(text):
        return quote(text, safe="/") if encode else text

    prefix, delimiter, max_keys = args.get("prefix", ""), args.get("delimiter", ""), _max_keys()
    if v2:
        token = args.get("continuation-token")
        if token is not None:
            try:
                start = base64.b64decode(token.translate(str.maketrans("-_", "+/")), validate=True).decode()
                if not start.startswith("v1:"):
                    raise ValueError(token)
                start = start[3:]
            except (ValueError, UnicodeDecodeError):
                raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                              ArgumentName="continuation-token") from None
        else:
            start = args.get("start-after", "")
    else:
        start = args.get("marker", "")
    contents, prefixes, truncated, last = om().list(bucket, prefix, delimiter, start, max_keys)
    owner = f"<Owner>{el('ID', bucket.project_id)}{el('DisplayName', bucket.project_id)}</Owner>"
    fetch_owner = not v2 or args.get("fetch-owner") == "true"
    body = [el("Name", bucket.name), el("Prefix", enc(prefix)), el("MaxKeys", max_keys),
            el("IsTruncated", "true" if truncated else "false")]
    if delimiter:
        body.append(el("Delimiter", enc(delimiter)))
    if encode:
        body.append(el("EncodingType", "url"))
    if v2:
        body.append(el("KeyCount", len(contents) + len(prefixes)))
        if args.get("continuation-token") is not None:
            body.append(el("ContinuationToken", args["continuation-token"]))
        if args.get("start-after"):
            body.append(el("StartAfter", enc(args["start-after"])))
        if truncated and last is not None:
            body.append(el("NextContinuationToken", base64.urlsafe_b64encode(("v1:" + last).encode()).decode()))
    else:
        body.append(el("Marker", enc(start)))
        if truncated and delimiter and last is not None:
            body.append(el("NextMarker", enc(last)))
    for obj in contents:
        body.append(f"<Contents>{el('Key', enc(obj.key))}{el('LastModified', _iso(obj.updated_at))}"
                    f"{el('ETag', obj.etag)}{el('Size', obj.size)}{el('StorageClass', 'STANDARD')}"
                    f"{owner if fetch_owner else ''}</Contents>")
    for p in prefixes:
        body.append(f"<CommonPrefixes>{el('Prefix', enc(p))}</CommonPrefixes>")
    return xml_response("ListBucketResult", "".join(body))


def delete_objects(bucket):
    if not (request.headers.get("Content-MD5") or any(h.lower().startswith("x-amz-checksum-") or
                                                      h.lower() == "x-amz-sdk-checksum-algorithm"
                                                      for h in request.headers.keys())):
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5")
    root = parse_xml(g.s3_payload)
    if root.tag != "Delete":
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.")
    quiet = (root.findtext("Quiet") or "").lower() == "true"
    keys = [o.findtext("Key") for o in root.findall("Object")]
    if not keys or len(keys) > 1000 or any(k is None for k in keys):
        raise S3Error("MalformedXML", "A Delete request needs 1 to 1000 Object elements, each with a Key.")
    out = []
    for key in keys:
        try:
            om().check_key(key)
            om().delete(bucket, key)
            if not quiet:
                out.append(f"<Deleted>{el('Key', key)}</Deleted>")
        except S3Error as exc:
            out.append(f"<Error>{el('Key', key)}{el('Code', exc.code)}{el('Message', exc.message)}</Error>")
    return xml_response("DeleteResult", "".join(out))


def list_uploads(bucket):
    prefix = request.args.get("prefix", "")
    items = "".join(f"<Upload>{el('Key', u.key)}{el('UploadId', u.id)}{el('Initiated', _iso(u.created_at))}"
                    f"{el('StorageClass', 'STANDARD')}</Upload>" for u in om().uploads(bucket, prefix))
    return xml_response("ListMultipartUploadsResult", f"{el('Bucket', bucket.name)}{el('Prefix', prefix)}"
                        f"{el('MaxUploads', 1000)}{el('IsTruncated', 'false')}{items}")


# --- objects ------------------------------------------------------------------------------------------------------
def object_op(name, key, method):
    bucket = om().bucket(name, g.s3_project)
    om().check_key(key)
    args = request.args
    if method == "PUT":
        if "partNumber" in args or "uploadId" in args:
            return upload_part(bucket, key)
        if "tagging" in args or "acl" in args or "retention" in args or "legal-hold" in args:
            raise S3Error("NotImplemented", "This object subresource is not implemented.")
        if request.headers.get("x-amz-copy-source"):
            return copy_object(bucket, key)
        if request.content_length is None and not request.headers.get("x-amz-decoded-content-length") and \
                not request.headers.get("Transfer-Encoding"):
            raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.")
        obj = om().put(bucket, key, g.s3_payload, request.headers.get("Content-Type"), user_metadata())
        resp = Response(status=200)
        resp.headers["ETag"] = obj.etag
        if obj.checksum:
            resp.headers[f"x-amz-checksum-{obj.checksum['algorithm'].lower()}"] = obj.checksum["value"]
        return resp
    if method == "POST":
        if "uploads" in args:
            algo = request.headers.get("x-amz-checksum-algorithm")
            up = om().create_upload(bucket, key, request.headers.get("Content-Type"), user_metadata(), algo)
            return xml_response("InitiateMultipartUploadResult",
                                el("Bucket", bucket.name) + el("Key", key) + el("UploadId", up.id))
        if "uploadId" in args:
            return complete_upload(bucket, key)
        raise S3Error("NotImplemented", "POST on an object supports only ?uploads and ?uploadId.")
    if method == "DELETE":
        if "uploadId" in args:
            om().abort(bucket, om().upload(bucket, args["uploadId"], key))
            return Response(status=204)
        om().check_key(key)
        om().delete(bucket, key)
        return Response(status=204)
    if method == "GET" and "uploadId" in args:
        return list_parts(bucket, key)
    if "tagging" in args or "acl" in args:
        raise S3Error("NotImplemented", "This object subresource is not implemented.")
    return get_object(bucket, key, head=method == "HEAD")


def get_object(bucket, key, head):
    obj = om().get(bucket, key)
    headers = object_headers(obj)
    etag = obj.etag
    if request.headers.get("If-None-Match") in (etag, "*"):
        return Response(status=304, headers={"ETag": etag})
    if request.headers.get("If-Match") not in (None, etag, "*"):
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                      Condition="If-Match")
    size = obj.size
    try:
        rng = store.parse_range(request.headers.get("Range"), size)
    except ValueError:
        if size == 0 and request.headers.get("Range"):
            rng = None
        else:
            raise S3Error("InvalidRange", "The requested range is not satisfiable", ActualObjectSize=size,
                          RangeRequested=request.headers.get("Range", "")) from None
    status, start, length = 200, 0, size
    if rng is not None:
        start, end = rng
        length = end - start + 1
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers.pop(next((h for h in headers if h.startswith("x-amz-checksum-")), ""), None)
    headers["Content-Length"] = str(length)
    if head:
        return Response(status=status, headers=headers)
    # open now so a concurrent overwrite (which unlinks the old file) cannot break this download
    fh = om().open(obj)

    def body():
        with fh:
            fh.seek(start)
            remaining = length
            while remaining > 0:
                data = fh.read(min(store.CHUNK, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data

    return Response(stream_with_context(body()), status=status, headers=headers, direct_passthrough=True)


def _copy_source():
    raw = unquote(request.headers["x-amz-copy-source"]).split("?", 1)[0].lstrip("/")
    src_bucket, _, src_key = raw.partition("/")
    if not src_bucket or not src_key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                      ArgumentName="x-amz-copy-source")
    return om().bucket(src_bucket, g.s3_project), src_key


def copy_object(bucket, key):
    src_bucket, src_key = _copy_source()
    directive = request.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive")
    obj = om().copy(src_bucket, src_key, bucket, key, directive == "REPLACE", request.headers.get("Content-Type"),
                    user_metadata())
    return xml_response("CopyObjectResult", el("LastModified", _iso(obj.updated_at)) + el("ETag", obj.etag))


def _part_number():
    raw = request.args.get("partNumber", "")
    if not raw.isdigit():
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=raw)
    return int(raw)


def upload_part(bucket, key):
    if request.headers.get("x-amz-copy-source"):
        raise S3Error("NotImplemented", "UploadPartCopy is not implemented yet.")
    up = om().upload(bucket, request.args.get("uploadId", ""), key)
    part = om().put_part(bucket, up, _part_number(), g.s3_payload)
    resp = Response(status=200)
    resp.headers["ETag"] = part.etag
    if part.checksum:
        resp.headers[f"x-amz-checksum-{part.checksum['algorithm'].lower()}"] = part.checksum["value"]
    return resp


def list_parts(bucket, key):
    up = om().upload(bucket, request.args["uploadId"], key)
    items = "".join(f"<Part>{el('PartNumber', p.number)}{el('LastModified', _iso(p.created_at))}"
                    f"{el('ETag', p.etag)}{el('Size', p.size)}</Part>" for p in om().parts(up))
    return xml_response("ListPartsResult", f"{el('Bucket', bucket.name)}{el('Key', key)}{el('UploadId', up.id)}"
                        f"{el('StorageClass', 'STANDARD')}{el('MaxParts', 1000)}{el('IsTruncated', 'false')}"
                        f"{items}")


def complete_upload(bucket, key):
    up = om().upload(bucket, request.args["uploadId"], key)
    root = parse_xml(g.s3_payload)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.")
    wanted = []
    for part in root.findall("Part"):
        number, etag = part.findtext("PartNumber"), part.findtext("ETag")
        if number is None or not number.strip().isdigit() or etag is None:
            raise S3Error("MalformedXML", "Each Part needs a PartNumber and an ETag.")
        wanted.append((int(number), etag))
    obj = om().complete(bucket, up, wanted)
    return xml_response("CompleteMultipartUploadResult",
                        el("Location", f"{request.host_url.rstrip('/')}/{bucket.name}/{quote(key)}") +
                        el("Bucket", bucket.name) + el("Key", key) + el("ETag", obj.etag))
