"""Image manager (Glance v2 semantics): visibility, membership, upload with checksums and inspection."""
from __future__ import annotations

import contextlib
import logging
import uuid

from appliance import errors
from appliance.config import Settings
from services.storage import formats, store
from services.storage.access import denied, is_admin as _is_admin
from services.storage.models import Image, ImageMember, database
from services.storage.stores.base import Store
from services.storage.stores.file import FileStore

log = logging.getLogger(__name__)

DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
VISIBILITIES = ["public", "private", "shared", "community"]
CORE = {"name", "visibility", "protected", "os_hidden", "disk_format", "container_format", "min_disk",
        "min_ram", "tags", "id", "owner"}
READ_ONLY = {"status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "created_at",
             "updated_at", "self", "file", "schema", "locations", "direct_url", "deleted", "deleted_at"}
MAX_PROPERTIES = 128
MAX_VALUE = 65535


class ImageManager:
    def __init__(self, settings: Settings, data: Store | None = None):
        self.settings = settings
        # an image's bytes are stored under its id
        self.store = data if data is not None else FileStore(store.area(settings, "images"))
        self.size_cap = int(settings.section("storage").get("image_size_cap", 1 << 40))

    def local_path(self, image_id: str) -> contextlib.AbstractContextManager:
        """A file with the image's data, for the volume driver's conversion."""
        return self.store.local_path(image_id)

    # --- access -----------------------------------------------------------------------------------
    def _visible(self, img: Image, ctx) -> bool:
        if _is_admin(ctx) or img.owner == ctx.project_id or img.visibility in ("public", "community"):
            return True
        if img.visibility == "shared":
            return ImageMember.select().where((ImageMember.image == img.id) &
                                              (ImageMember.member_id == ctx.project_id)).exists()
        return False

    def get(self, image_id: str, ctx) -> Image:
        img = Image.get_or_none(Image.id == image_id)
        if img is None or not self._visible(img, ctx):
            raise errors.NotFound(f"No image found with ID {image_id}")
        return img

    # --- create / update --------------------------------------------------------------------------
    def create(self, body: dict, ctx, may) -> Image:
        """`may(rule, target)`: the route's call.check, for the admin-only knobs (public, another owner)."""
        if not isinstance(body, dict):
            raise errors.BadRequest("The request body must be a JSON object.")
        for key in body:
            if key in READ_ONLY:
                raise errors.Forbidden(f"Attribute '{key}' is read-only.")
        fields = {"owner": ctx.project_id}
        props = {}
        for key, value in body.items():
            if key in CORE:
                fields[key] = value
            else:
                props[key] = value
        self._check_fields(fields, creating=True)
        self._check_properties(props)
        if fields.get("visibility") == "public" and not may("image:publicize_image", {}):
            raise denied("image:publicize_image")
        if fields.get("owner") != ctx.project_id and not may("image:set_owner", {}):
            raise denied("image:set_owner")
        if "id" in fields and Image.get_or_none(Image.id == fields["id"]) is not None:
            raise errors.Conflict(f"An image with identifier {fields['id']} already exists")
        fields.setdefault("visibility", "shared")
        fields.setdefault("tags", [])
        fields["tags"] = sorted(set(fields["tags"]))
        return Image.create(properties=props, **fields)

    def _check_fields(self, fields: dict, creating: bool = False) -> None:
        def bad(field, why):
            raise errors.BadRequest(f"Invalid value for '{field}': {why}")
        if "id" in fields:
            try:
                uuid.UUID(str(fields["id"]))
            except ValueError:
                bad("id", "must be a UUID")
            fields["id"] = str(uuid.UUID(str(fields["id"])))
        if "name" in fields and fields["name"] is not None:
            if not isinstance(fields["name"], str) or len(fields["name"]) > 255:
                bad("name", "must be a string of at most 255 characters")
        for field, allowed in (("disk_format", DISK_FORMATS), ("container_format", CONTAINER_FORMATS),
                               ("visibility", VISIBILITIES)):
            if field in fields and fields[field] is not None and fields[field] not in allowed:
                bad(field, f"{fields[field]!r} is not one of {', '.join(allowed)}")
        if fields.get("visibility", "x") is None:
            bad("visibility", "may not be null")
        for field in ("protected", "os_hidden"):
            if field in fields and not isinstance(fields[field], bool):
                bad(field, "must be a boolean")
        for field in ("min_disk", "min_ram"):
            if field in fields and (not isinstance(fields[field], int) or isinstance(fields[field], bool)
                                    or fields[field] < 0):
                bad(field, "must be a non-negative integer")
        if "tags" in fields:
            tags = fields["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in tags):
                bad("tags", "must be a list of strings of at most 255 characters")
        if "owner" in fields and (not isinstance(fields["owner"], str) or len(fields["owner"]) > 255):
            bad("owner", "must be a string")

    def _check_properties(self, props: dict) -> None:
        if len(props) > MAX_PROPERTIES:
            raise errors.PayloadTooLarge(f"Maximum number of image properties ({MAX_PROPERTIES}) exceeded.")
        for key, value in props.items():
            if len(key) > 255:
                raise errors.BadRequest(f"Invalid property name '{key[:40]}...': at most 255 characters")
            if not isinstance(value, str):
                raise errors.BadRequest(f"Invalid value for '{key}': additional properties must be strings")
            if len(value) > MAX_VALUE:
                raise errors.BadRequest(f"Invalid value for '{key}': at most {MAX_VALUE} characters")

    def patch(self, img: Image, ops, may) -> Image:
        if not isinstance(ops, list):
            raise errors.BadRequest("The JSON patch must be a list of operations.")
        fields = {f: getattr(img, f) for f in CORE if f not in ("id",)}
        props = dict(img.properties)
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove") or \
                    not isinstance(op.get("path"), str):
                raise errors.BadRequest("Each patch operation needs 'op' (add, replace, remove) and 'path'.")
            name = op["path"].lstrip("/")
            if name.startswith("locations") or name in READ_ONLY:
                raise errors.Forbidden(f"Attribute '{name}' is read-only.")
            if name == "id":
                raise errors.Forbidden("Attribute 'id' is read-only.")
            if op["op"] == "remove":
                if name in CORE:
                    raise errors.Forbidden(f"Attribute '{name}' is reserved.")
                if name not in props:
                    raise errors.Conflict(f"Property {name} does not exist.")
                del props[name]
                continue
            if "value" not in op:
                raise errors.BadRequest(f"Operation '{op['op']}' on '{name}' needs a 'value'.")
            if name in CORE:
                fields[name] = op["value"]
            else:
                if op["op"] == "replace" and name not in props:
                    raise errors.Conflict(f"Property {name} does not exist.")
                props[name] = op["value"]
        self._check_fields(fields)
        self._check_properties(props)
        if img.status != "queued":
            for field in ("disk_format", "container_format"):
                if fields[field] != getattr(img, field):
                    raise errors.Forbidden(f"Attribute '{field}' can be only replaced for a queued image.")
        if fields["visibility"] == "public" and img.visibility != "public" and not may("image:publicize_image", {}):
            raise denied("image:publicize_image")
        if fields["owner"] != img.owner and not may("image:set_owner", {}):
            raise denied("image:set_owner")
        fields["tags"] = sorted(set(fields["tags"]))
        for key, value in fields.items():
            setattr(img, key, value)
        img.properties = props
        img.save()
        return img

    def delete(self, img: Image) -> None:
        if img.protected:
            raise errors.Forbidden(f"Image {img.id} is protected and cannot be deleted.")
        with database.atomic():
            img.delete_instance(recursive=True)
        self.store.delete(img.id)

    def set_active(self, img: Image, active: bool) -> None:
        if active and img.status == "deactivated":
            img.status = "active"
        elif not active and img.status == "active":
            img.status = "deactivated"
        elif img.status != ("active" if active else "deactivated"):
            raise errors.Forbidden(f"Not allowed to {'re' if active else 'de'}activate an image in "
                                   f"status '{img.status}'.")
        img.save()

    def tag(self, img: Image, tag: str, add: bool) -> None:
        tags = set(img.tags)
        if add:
            if len(tag) > 255:
                raise errors.BadRequest("Invalid value for 'tag': at most 255 characters")
            tags.add(tag)
        elif tag not in tags:
            raise errors.NotFound(f"Tag {tag} not found on image {img.id}.")
        else:
            tags.discard(tag)
        img.tags = sorted(tags)
        img.save()

    # --- data ---------------------------------------------------------------------------------------
    def upload(self, img: Image, stream, length: int | None) -> Image:
        image_id = img.id
        if img.status != "queued":
            raise errors.Conflict(f"Image {image_id} is {img.status}; data can only be uploaded once.")
        if not img.disk_format or not img.container_format:
            raise errors.BadRequest("Properties disk_format, container_format must be set prior to saving data.")
        if length is not None and length > self.size_cap:
            raise errors.PayloadTooLarge(f"Image size {length} exceeds the limit of {self.size_cap} bytes.")
        # 'saving' is persisted first so a crash mid-upload is found and reset by reconcile()
        Image.update(status="saving").where(Image.id == img.id).execute()
        try:
            # the data is inspected before it becomes visible under the image's id
            written = self.store.put(image_id, stream, limit=self.size_cap, expected=length, hashes=("md5", "sha512"),
                                     verify=lambda path: formats.check(path, img.disk_format))
        except store.UploadAborted as exc:
            Image.update(status="queued").where(Image.id == img.id).execute()
            raise errors.BadRequest(f"Image upload failed: {exc}.") from None
        except formats.FormatError as exc:
            Image.update(status="queued").where(Image.id == img.id).execute()
            raise errors.BadRequest(f"Image format check failed: {exc}.") from None
        except BaseException:
            Image.update(status="queued").where(Image.id == img.id).execute()
            raise
        Image.update(status="active", size=written.size, virtual_size=written.verified["virtual_size"],
                     checksum=written.digests["md5"], os_hash_algo="sha512",
                     os_hash_value=written.digests["sha512"]).where(Image.id == img.id).execute()
        return Image.get_by_id(img.id)

    def inspect_for_conversion(self, img: Image) -> dict:
        """The stored data, inspected again before it becomes a volume; 400 with Cinder's reason if refused."""
        try:
            with self.store.local_path(img.id) as path:
                found = formats.check(path, img.disk_format)
        except formats.FormatError as exc:
            raise errors.BadRequest(f"Image {img.id} is unacceptable: {exc}.") from None
        except OSError as exc:
            raise errors.BadRequest(f"Image {img.id} is unacceptable: its data cannot be read ({exc.strerror}).") \
                from None
        if found["qemu_format"] is None:
            raise errors.BadRequest(f"Image {img.id} is unacceptable: a {img.disk_format} image cannot be "
                                    "converted to a volume.")
        return found

    def data(self, image_id: str, ctx) -> tuple[Image, bool]:
        """The image and whether its data may be read now (an active image, or a deactivated one by an admin)."""
        img = self.get(image_id, ctx)
        if img.status == "deactivated" and not _is_admin(ctx):
            raise errors.Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        return img, img.status in ("active", "deactivated")

    def stored_size(self, image_id: str) -> int | None:
        """Bytes stored for the image; None if the store has none."""
        return self.store.size(image_id) if self.store.exists(image_id) else None

    def read(self, image_id: str, start: int = 0, length: int | None = None):
        return self.store.read(image_id, start, length)

    # --- members --------------------------------------------------------------------------------------
    def add_member(self, img: Image, member_id) -> ImageMember:
        image_id = img.id
        if img.visibility != "shared":
            raise errors.Forbidden(f"Image members can only be added to shared images (this one is "
                                   f"{img.visibility}).")
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise errors.BadRequest("Invalid value for 'member': a project id is required.")
        if ImageMember.select().where((ImageMember.image == img.id) & (ImageMember.member_id == member_id)).exists():
            raise errors.Conflict(f"Member {member_id} already exists on image {image_id}.")
        return ImageMember.create(image=img.id, member_id=member_id)

    def members(self, image_id: str, ctx) -> list[ImageMember]:
        img = self.get(image_id, ctx)
        query = ImageMember.select().where(ImageMember.image == img.id)
        if not (_is_admin(ctx) or img.owner == ctx.project_id):
            query = query.where(ImageMember.member_id == ctx.project_id)
        return list(query)

    def member(self, image_id: str, member_id: str, ctx) -> ImageMember:
        for m in self.members(image_id, ctx):
            if m.member_id == member_id:
                return m
        raise errors.NotFound(f"Member {member_id} not found on image {image_id}.")

    def set_member_status(self, image_id: str, member_id: str, status, ctx) -> ImageMember:
        m = self.member(image_id, member_id, ctx)
        if member_id != ctx.project_id and not _is_admin(ctx):
            raise errors.Forbidden("Only the member itself can change its membership status.")
        if status not in ("pending", "accepted", "rejected"):
            raise errors.BadRequest("Invalid value for 'status': one of pending, accepted, rejected.")
        m.status = status
        m.save()
        return m

    def delete_member(self, img: Image, member_id: str, ctx) -> None:
        m = self.member(img.id, member_id, ctx)
        m.delete_instance()

    # --- listing --------------------------------------------------------------------------------------
    def list(self, args, ctx) -> tuple[list[Image], str | None]:
        query = Image.select()
        visibility = args.get("visibility")
        if visibility and visibility not in VISIBILITIES + ["all"]:
            raise errors.BadRequest(f"Invalid value for 'visibility': {visibility!r}")
        admin = _is_admin(ctx)
        member_of = {m.image_id: m.status for m in
                     ImageMember.select().where(ImageMember.member_id == ctx.project_id)}
        images = []
        for img in query:
            own = img.owner == ctx.project_id
            if visibility and visibility != "all" and img.visibility != visibility:
                continue
            if admin:
                # as in Glance: an admin lists every image, except other projects' community images unless asked
                if visibility is None and img.visibility == "community" and not own:
                    continue
            else:
                seen = own or img.visibility == "public" or \
                    (img.visibility == "community" and visibility == "community") or \
                    (img.visibility == "shared" and img.id in member_of and
                     (visibility == "shared" or member_of[img.id] == "accepted"))
                if not seen:
                    continue
            images.append(img)
        images = [i for i in images if _matches(i, args)]
        return _paginate(images, args)

    def reconcile(self) -> dict:
        """Uploads a crash interrupted go back to queued; their temp files are swept."""
        swept = self.store.sweep()
        reset = Image.update(status="queued").where(Image.status == "saving").execute()
        return {"images_reset": reset, "temp_files": swept}


def _matches(img: Image, args) -> bool:
    for field in ("name", "status", "owner", "disk_format", "container_format"):
        want = args.get(field)
        if want is not None and str(getattr(img, field)) != want:
            return False
    ids = args.get("id")
    if ids:
        if ids.startswith("in:"):
            wanted = {v.strip().strip('"') for v in ids[3:].split(",")}
            if img.id not in wanted:
                return False
        elif ids != img.id:
            return False
    for tag in args.getlist("tag") if hasattr(args, "getlist") else []:
        if tag not in img.tags:
            return False
    hidden = args.get("os_hidden")
    if (hidden or "false").lower() != str(img.os_hidden).lower():
        return False
    if args.get("protected") is not None and args.get("protected").lower() != str(img.protected).lower():
        return False
    return True


SORT_KEYS = {"name", "status", "created_at", "updated_at", "size", "id", "disk_format", "container_format",
             "visibility", "owner", "min_disk", "min_ram"}


def _paginate(images: list[Image], args) -> tuple[list[Image], str | None]:
    sorts = []
    if args.get("sort"):
        for part in args["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            sorts.append((key, direction or "desc"))
    else:
        keys = args.getlist("sort_key") if hasattr(args, "getlist") else [args.get("sort_key")]
        dirs = args.getlist("sort_dir") if hasattr(args, "getlist") else [args.get("sort_dir")]
        keys = [k for k in keys if k] or ["created_at"]
        for i, key in enumerate(keys):
            sorts.append((key, (dirs[i] if i < len(dirs) and dirs[i] else (dirs[0] if dirs and dirs[0] else "desc"))))
    for key, direction in sorts:
        if key not in SORT_KEYS:
            raise errors.BadRequest(f"Invalid value for 'sort_key': {key!r}")
        if direction not in ("asc", "desc"):
            raise errors.BadRequest(f"Invalid value for 'sort_dir': {direction!r}")
    if "id" not in {k for k, _ in sorts}:
        sorts.append(("id", sorts[0][1]))
    for key, direction in reversed(sorts):
        images.sort(key=lambda i, k=key: (getattr(i, k) is not None, getattr(i, k) or 0 if k in
                                          ("size", "min_disk", "min_ram") else str(getattr(i, k) or "")),
                    reverse=direction == "desc")
    marker = args.get("marker")
    if marker:
        ids = [i.id for i in images]
        if marker not in ids:
            raise errors.BadRequest(f"Invalid value for 'marker': no image with ID {marker} in this listing")
        images = images[ids.index(marker) + 1:]
    try:
        limit = int(args.get("limit", 25))
    except ValueError:
        raise errors.BadRequest("Invalid value for 'limit': must be an integer") from None
    if limit < 0:
        raise errors.BadRequest("Invalid value for 'limit': must be a non-negative integer")
    limit = min(limit, 1000)
    page = images[:limit]
    next_marker = page[-1].id if len(images) > limit and page else None
    return page, next_marker
