"""Object manager: buckets per project, objects as immutable files swapped in atomically, multipart uploads."""
from __future__ import annotations

import hashlib
import re
import threading
import uuid

import peewee

from services.storage import store
from services.storage.models import Bucket, Object, Part, Upload, database
from services.storage.s3.errors import S3Error
from services.storage.stores.base import Store, Written
from services.storage.stores.file import FileStore

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000
MAX_META = 2048


class ObjectManager:
    def __init__(self, settings, data: Store | None = None):
        self.settings = settings
        # a bucket is a folder of the store: '<bucket id>/<data file>'; objects are immutable files swapped in
        self.store = data if data is not None else FileStore(store.area(settings, "objects"))
        self.max_object = int(settings.section("storage").get("s3_max_object_size", 5 * 1024 ** 4))
        self.lock = threading.Lock()

    # --- buckets ------------------------------------------------------------------------------------------
    def _write_file(self, bucket, name, payload, limit) -> Written:
        """Stream `payload` into the bucket's file `name` atomically (md5 kept for the ETag); nothing on failure."""
        try:
            return self.store.put(_name(bucket.id, name), payload, limit=limit, hashes=("md5",))
        except store.UploadAborted as exc:
            raise S3Error("EntityTooLarge", str(exc)) from None

    def check_name(self, name: str) -> None:
        if not BUCKET_RE.match(name) or ".." in name or re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
            raise S3Error("InvalidBucketName", "The specified bucket is not valid.", BucketName=name)

    def bucket(self, name: str, project_id: str) -> Bucket:
        b = Bucket.get_or_none(Bucket.name == name)
        if b is None:
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", BucketName=name)
        if b.project_id != project_id:
            raise S3Error("AccessDenied", "Access Denied")
        return b

    def create_bucket(self, name: str, project_id: str, location: str = "") -> Bucket:
        self.check_name(name)
        with self.lock, database.atomic():
            existing = Bucket.get_or_none(Bucket.name == name)
            if existing is not None:
                if existing.project_id == project_id:
                    raise S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                                  "succeeded and you already own it.", BucketName=name)
                raise S3Error("BucketAlreadyExists", "The requested bucket name is not available.", BucketName=name)
            b = Bucket.create(name=name, project_id=project_id, location=location)
        self.store.create_folder(_folder(b.id))
        return b

    def buckets(self, project_id: str):
        return list(Bucket.select().where(Bucket.project_id == project_id).order_by(Bucket.name))

    def delete_bucket(self, name: str, project_id: str) -> None:
        b = self.bucket(name, project_id)
        with self.lock, database.atomic():
            if Object.select().where(Object.bucket == b.id).exists() or \
                    Upload.select().where(Upload.bucket == b.id).exists():
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", BucketName=name)
            b.delete_instance()
        self.store.remove_folder(_folder(b.id))

    # --- objects ------------------------------------------------------------------------------------------
    def check_key(self, key: str) -> None:
        if not key:
            raise S3Error("InvalidArgument", "An object key must not be empty")
        if len(key.encode()) > 1024:
            raise S3Error("KeyTooLongError", "Your key is too long")

    def check_metadata(self, meta: dict) -> None:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
        if size > MAX_META:
            raise S3Error("MetadataTooLarge", f"Your metadata headers exceed the maximum allowed metadata size "
                          f"of {MAX_META} bytes.", Size=size, MaxSizeAllowed=MAX_META)

    def get(self, bucket: Bucket, key: str) -> Object:
        obj = Object.get_or_none((Object.bucket == bucket.id) & (Object.key == key))
        if obj is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", Key=key)
        return obj

    def open(self, obj: Object):
        """A reader of the object's data: a concurrent overwrite (which deletes the old file) does not break it."""
        return self.store.open(_name(obj.bucket_id, obj.data_file))

    def put(self, bucket: Bucket, key: str, payload, content_type, metadata: dict) -> Object:
        """Stream the payload to a new file; only a fully checked upload replaces the old object."""
        self.check_key(key)
        self.check_metadata(metadata)
        if payload.declared_length is not None and payload.declared_length > self.max_object:
            raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
        name = uuid.uuid4().hex
        written = self._write_file(bucket, name, payload, self.max_object)
        etag = f'"{written.digests["md5"]}"'
        return self._publish(bucket, key, name, written.size, etag, content_type, metadata, payload.checksum())

    def _publish(self, bucket, key, name, size, etag, content_type, metadata, checksum) -> Object:
        old_file = None
        with self.lock, database.atomic():
            if Bucket.get_or_none(Bucket.id == bucket.id) is None:
                self.store.delete(_name(bucket.id, name))
                raise S3Error("NoSuchBucket", "The specified bucket does not exist", BucketName=bucket.name)
            obj = Object.get_or_none((Object.bucket == bucket.id) & (Object.key == key))
            if obj is None:
                obj = Object(bucket=bucket.id, key=key)
            else:
                old_file = obj.data_file
            obj.size, obj.etag, obj.content_type = size, etag, content_type
            obj.metadata, obj.checksum, obj.data_file = metadata, checksum, name
            obj.save(force_insert=obj.id is None or old_file is None)
        if old_file:
            # an open download keeps reading the old inode; unlinking it here is safe
            self.store.delete(_name(bucket.id, old_file))
        return obj

    def copy(self, src_bucket: Bucket, src_key: str, bucket: Bucket, key: str, replace_meta, content_type,
             metadata) -> Object:
        self.check_key(key)
        src = self.get(src_bucket, src_key)
        if src_bucket.id == bucket.id and src_key == key and not replace_meta:
            raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object "
                          "to itself without changing the object's metadata.")
        name = uuid.uuid4().hex
        with self.open(src) as fh:
            written = self.store.put(_name(bucket.id, name), fh, hashes=("md5",))
        if replace_meta:
            self.check_metadata(metadata)
        else:
            content_type, metadata = src.content_type, src.metadata
        return self._publish(bucket, key, name, written.size, f'"{written.digests["md5"]}"', content_type,
                             metadata, src.checksum)

    def delete(self, bucket: Bucket, key: str) -> None:
        with self.lock, database.atomic():
            obj = Object.get_or_none((Object.bucket == bucket.id) & (Object.key == key))
            if obj is None:
                return  # S3 deletes are idempotent
            obj.delete_instance()
        self.store.delete(_name(obj.bucket_id, obj.data_file))

    def list(self, bucket: Bucket, prefix="", delimiter="", start_after="", max_keys=1000):
        """(contents, common_prefixes, truncated, next_marker) in binary key order."""
        contents, prefixes = [], []
        cursor = max(start_after, prefix) if start_after else prefix
        inclusive = not start_after or start_after < prefix
        truncated, last = False, None
        # S3 lists in binary (UTF-8 byte) order; PostgreSQL's default collation would not
        key = Object.key.collate('"C"') if _is_postgres() else Object.key
        while True:
            query = Object.select().where(Object.bucket == bucket.id)
            query = query.where(key >= cursor) if inclusive else query.where(key > cursor)
            batch = list(query.order_by(key).limit(1000))
            if not batch:
                break
            inclusive = False
            for obj in batch:
                cursor = obj.key
                if not obj.key.startswith(prefix):
                    batch = []
                    break
                if len(contents) + len(prefixes) >= max_keys:
                    truncated = True
                    break
                if delimiter:
                    rest = obj.key[len(prefix):]
                    pos = rest.find(delimiter)
                    if pos >= 0:
                        common = prefix + rest[:pos + len(delimiter)]
                        prefixes.append(common)
                        last = common
                        # skip every key under this common prefix
                        cursor = common + "\U0010ffff"
                        break
                contents.append(obj)
                last = obj.key
            else:
                if len(batch) < 1000:
                    break
                continue
            if truncated or not batch:
                break
        return contents, prefixes, truncated, last

    # --- multipart ----------------------------------------------------------------------------------------
    def create_upload(self, bucket: Bucket, key: str, content_type, metadata, algorithm) -> Upload:
        self.check_key(key)
        self.check_metadata(metadata)
        return Upload.create(bucket=bucket.id, key=key, content_type=content_type, metadata=metadata,
                             checksum_algorithm=algorithm)

    def upload(self, bucket: Bucket, upload_id: str, key: str | None = None) -> Upload:
        up = Upload.get_or_none((Upload.id == upload_id) & (Upload.bucket == bucket.id))
        if up is None or (key is not None and up.key != key):
            raise S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or "
                          "the upload may have been aborted or completed.", UploadId=upload_id)
        return up

    def put_part(self, bucket: Bucket, up: Upload, number: int, payload) -> Part:
        if not 1 <= number <= MAX_PARTS:
            raise S3Error("InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}, "
                          "inclusive")
        name = f"part-{uuid.uuid4().hex}"
        written = self._write_file(bucket, name, payload, 5 * 1024 ** 3)
        old = None
        with self.lock, database.atomic():
            if Upload.get_or_none(Upload.id == up.id) is None:
                self.store.delete(_name(bucket.id, name))
                raise S3Error("NoSuchUpload", "The specified upload does not exist.", UploadId=up.id)
            part = Part.get_or_none((Part.upload == up.id) & (Part.number == number))
            if part is not None:
                old = part.data_file
                part.delete_instance()
            part = Part.create(upload=up.id, number=number, size=written.size,
                               etag=f'"{written.digests["md5"]}"', checksum=payload.checksum(), data_file=name)
        if old:
            self.store.delete(_name(bucket.id, old))
        return part

    def parts(self, up: Upload):
        return list(Part.select().where(Part.upload == up.id).order_by(Part.number))

    def complete(self, bucket: Bucket, up: Upload, wanted: list[tuple[int, str]]) -> Object:
        if not wanted:
            raise S3Error("MalformedXML", "You must specify at least one part")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered "
                          "by part number.")
        have = {p.number: p for p in self.parts(up)}
        chosen = []
        for number, etag in wanted:
            part = have.get(number)
            if part is None or part.etag.strip('"') != etag.strip().strip('"'):
                raise S3Error("InvalidPart", "One or more of the specified parts could not be found. The part may "
                              "not have been uploaded, or the specified entity tag may not have matched the part's "
                              "entity tag.", PartNumber=number)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART:
                raise S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object "
                              "size.", PartNumber=part.number, ProposedSize=part.size, MinSizeAllowed=MIN_PART)
        name = uuid.uuid4().hex
        size = self.store.concat(_name(bucket.id, name), [_name(bucket.id, p.data_file) for p in chosen])
        md5s = hashlib.md5()
        for part in chosen:
            md5s.update(bytes.fromhex(part.etag.strip('"')))
        etag = f'"{md5s.hexdigest()}-{len(chosen)}"'
        # a multipart object's checksum would be composite; clients do not validate those on full GETs
        checksum = None
        obj = self._publish(bucket, up.key, name, size, etag, up.content_type, up.metadata, checksum)
        self.abort(bucket, up)
        return obj

    def abort(self, bucket: Bucket, up: Upload) -> None:
        files = [p.data_file for p in self.parts(up)]
        with database.atomic():
            Part.delete().where(Part.upload == up.id).execute()
            up.delete_instance()
        for f in files:
            self.store.delete(_name(bucket.id, f))

    def uploads(self, bucket: Bucket, prefix=""):
        return [u for u in Upload.select().where(Upload.bucket == bucket.id).order_by(Upload.key, Upload.created_at)
                if u.key.startswith(prefix)]

    def reconcile(self) -> dict:
        """Temp files of interrupted writes are swept; data files no row points at are removed."""
        swept = self.store.sweep()
        orphans = 0
        known = {_name(o.bucket_id, o.data_file) for o in Object.select(Object.bucket, Object.data_file)}
        known |= {_name(u.bucket_id, p.data_file) for p in Part.select().join(Upload) for u in [p.upload]}
        for name in self.store.list():
            # data files sit in bucket folders; anything else in the store is not the object manager's
            if name.count("/") == 1 and name not in known:
                self.store.delete(name)
                orphans += 1
        return {"object_temp_files": swept, "object_orphans": orphans}


def _folder(bucket_id: str) -> str:
    return f"{bucket_id}/"


def _name(bucket_id: str, data_file: str) -> str:
    return f"{bucket_id}/{data_file}"


def _is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)
