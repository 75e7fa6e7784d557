"""Neutron's list semantics (filters, tags, fields, sorting, pagination) and `fields` on a shown resource."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from services.network.errors import bad_request

_LIST_KEYS = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "tags", "tags-any",
              "not-tags", "not-tags-any"}


def _matches(doc: dict, key: str, values: list[str]) -> bool:
    if key == "fixed_ips":
        for v in values:
            k, _, want = v.partition("=")
            if not any(str(ip.get(k)) == want for ip in doc.get("fixed_ips", [])):
                return False
        return True
    if key not in doc:
        return True     # unknown filters are ignored, as Neutron does without strict filter validation
    actual = doc[key]
    for v in values:
        if isinstance(actual, bool):
            if v.lower() == str(actual).lower():
                return True
        elif isinstance(actual, list):
            if v in [str(x) for x in actual]:
                return True
        elif actual is None:
            if v in ("", "None", "null"):
                return True
        elif str(actual) == v:
            return True
    return False


def _tag_filter(doc: dict, args) -> bool:
    tags = set(doc.get("tags", []))

    def split(name):
        return [t for v in args.getlist(name) for t in v.split(",") if t]
    if args.get("tags") and not set(split("tags")) <= tags:
        return False
    if args.get("tags-any") and not set(split("tags-any")) & tags:
        return False
    if args.get("not-tags") and set(split("not-tags")) <= tags:
        return False
    if args.get("not-tags-any") and set(split("not-tags-any")) & tags:
        return False
    return True


def list_body(collection: str, docs: list[dict]) -> dict:
    """The collection document of `docs` as the query string asks (Neutron's list semantics)."""
    args = request.args
    docs = [d for d in docs if _tag_filter(d, args)
            and all(_matches(d, k, args.getlist(k)) for k in args if k not in _LIST_KEYS)]
    keys, dirs = args.getlist("sort_key"), args.getlist("sort_dir")
    if len(dirs) > len(keys):
        raise bad_request("The number of sort_keys and sort_dirs must be same.")
    for i in range(len(keys) - 1, -1, -1):
        key, direction = keys[i], dirs[i] if i < len(dirs) else "asc"
        if direction not in ("asc", "desc"):
            raise bad_request(f"{direction} is invalid attribute for sort_dir.")
        if docs and key not in docs[0]:
            raise bad_request(f"{key} is invalid attribute for sort_key.")
        docs.sort(key=lambda d: (d.get(key) is None, str(d.get(key))), reverse=direction == "desc")
    links = []
    limit = args.get("limit")
    if limit:
        try:
            limit = int(limit)
            if limit < 0:
                raise ValueError
        except ValueError:
            raise bad_request(f"Limit must be an integer 0 or greater and not '{args.get('limit')}'.") from None
    marker = args.get("marker")
    if args.get("page_reverse", "false").lower() == "true":
        docs = list(reversed(docs))
    if marker:
        ids = [d["id"] for d in docs]
        docs = docs[ids.index(marker) + 1:] if marker in ids else docs
    if limit:
        more = len(docs) > limit
        docs = docs[:limit]
        if more and docs:
            params = [(k, v) for k in args for v in args.getlist(k) if k != "marker"]
            href = request.base_url + "?" + urlencode(params + [("marker", docs[-1]["id"])])
            links.append({"rel": "next", "href": href})
    fields = [f for v in args.getlist("fields") for f in v.split(",") if f]
    if fields:
        docs = [{k: d[k] for k in fields if k in d} for d in docs]
    body = {collection: docs}
    if links:
        body[f"{collection}_links"] = links
    return body


def show_body(singular: str, doc: dict) -> dict:
    fields = [f for v in request.args.getlist("fields") for f in v.split(",") if f]
    if fields:
        doc = {k: doc[k] for k in fields if k in doc}
    return {singular: doc}
