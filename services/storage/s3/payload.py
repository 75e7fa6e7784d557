"""S3 request bodies as a stream: plain, aws-chunked (signed or unsigned, with trailers), checksums checked."""
from __future__ import annotations

import base64
import hashlib
import hmac
import zlib

from werkzeug.exceptions import ClientDisconnected

from services.storage.s3.errors import S3Error
from services.storage.s3.sigv4 import EMPTY_SHA256, AuthResult, sign

STREAMING = {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
             "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}
MAX_LINE = 8192


class Crc32:
    def __init__(self):
        self.value = 0

    def update(self, data):
        self.value = zlib.crc32(data, self.value)

    def digest(self):
        return self.value.to_bytes(4, "big")


class Crc32c:
    def __init__(self):
        try:
            import google_crc32c as impl  # optional: only when the library is installed
            self._impl = impl.Checksum()
        except ImportError:
            raise S3Error("InvalidRequest", "The CRC32C checksum algorithm is not supported by this server; use "
                          "CRC32, SHA1 or SHA256") from None

    def update(self, data):
        self._impl.update(data)

    def digest(self):
        return self._impl.digest()


ALGORITHMS = {"crc32": Crc32, "crc32c": Crc32c, "sha1": lambda: hashlib.sha1(), "sha256": lambda: hashlib.sha256()}


def checksum_algorithm(name: str):
    factory = ALGORITHMS.get(name.lower())
    if factory is None:
        raise S3Error("InvalidRequest", f"Checksum algorithm {name} is not supported")
    return factory()


class Payload:
    """read(n) yields the decoded object bytes; at the end every digest, signature and checksum is checked."""

    def __init__(self, stream, auth: AuthResult, headers, content_length: int | None):
        self.raw = stream
        self.auth = auth
        self.mode = auth.payload_hash
        self.headers = headers
        self.buffer = b""
        self.done = False
        self.size = 0
        self.sha256 = hashlib.sha256() if len(self.mode) == 64 else None
        self.md5 = hashlib.md5()
        self.content_md5 = headers.get("Content-MD5")
        if self.content_md5 is not None:
            try:
                if len(base64.b64decode(self.content_md5, validate=True)) != 16:
                    raise ValueError
            except ValueError:
                raise S3Error("InvalidDigest", "The Content-MD5 you specified is not valid.") from None
        # declared checksums arrive as a header, or (named in x-amz-trailer) after the last chunk
        self.checksums = {}
        self.expected = {}
        for name in ALGORITHMS:
            value = headers.get(f"x-amz-checksum-{name}")
            if value is not None:
                self.checksums[name] = checksum_algorithm(name)
                self.expected[name] = value
        trailer = headers.get("x-amz-trailer", "")
        self.trailer_names = [t.strip().lower() for t in trailer.split(",") if t.strip()]
        for t in self.trailer_names:
            if t.startswith("x-amz-checksum-"):
                self.checksums[t[15:]] = checksum_algorithm(t[15:])
        algo = headers.get("x-amz-sdk-checksum-algorithm")
        if algo and algo.lower() not in self.checksums:
            self.checksums[algo.lower()] = checksum_algorithm(algo)
        self.chunked = self.mode in STREAMING
        if self.mode.startswith("STREAMING") and not self.chunked:
            raise S3Error("InvalidArgument", f"Unsupported x-amz-content-sha256 value {self.mode}")
        self.decoded_length = None
        if self.chunked:
            dl = headers.get("x-amz-decoded-content-length")
            if dl is not None:
                if not dl.isdigit():
                    raise S3Error("InvalidArgument", "x-amz-decoded-content-length must be a number")
                self.decoded_length = int(dl)
            self.chunk_left = 0
            self.prev_signature = auth.seed_signature
            self.signed = self.mode.startswith("STREAMING-AWS4")
            self.chunk_hash = None
        else:
            self.remaining = content_length

    @property
    def declared_length(self):
        return self.decoded_length if self.chunked else self.remaining

    # --- raw stream helpers ---------------------------------------------------------------------------------
    def _raw_read(self, n):
        try:
            return self.raw.read(n)
        except ClientDisconnected:
            raise S3Error("IncompleteBody", "The client closed the connection before sending the whole body") from None

    def _fill(self, n):
        while len(self.buffer) < n:
            data = self._raw_read(max(n - len(self.buffer), 65536))
            if not data:
                raise S3Error("IncompleteBody", "You did not provide the number of bytes specified by the "
                              "Content-Length HTTP header")
            self.buffer += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise S3Error("InvalidChunkSizeError", "Malformed aws-chunked encoding: line too long")
            data = self._raw_read(4096)
            if not data:
                raise S3Error("IncompleteBody", "The aws-chunked body ended early")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _take(self, n) -> bytes:
        self._fill(n)
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    # --- decoding ---------------------------------------------------------------------------------------------
    def read(self, n: int = 1 << 20) -> bytes:
        if self.done:
            return b""
        data = self._read_chunked(n) if self.chunked else self._read_plain(n)
        if data:
            self.size += len(data)
            self.md5.update(data)
            if self.sha256:
                self.sha256.update(data)
            if self.chunk_hash is not None if self.chunked else False:
                self.chunk_hash.update(data)
            for h in self.checksums.values():
                h.update(data)
        else:
            self.done = True
            self._finish()
        return data

    def _read_plain(self, n):
        if self.remaining is not None:
            if self.remaining <= 0:
                return b""
            n = min(n, self.remaining)
        if self.buffer:
            data, self.buffer = self.buffer[:n], self.buffer[n:]
        else:
            data = self._raw_read(n)
        if self.remaining is not None:
            if not data:
                raise S3Error("IncompleteBody", "You did not provide the number of bytes specified by the "
                              "Content-Length HTTP header")
            self.remaining -= len(data)
        return data

    def _read_chunked(self, n):
        if self.chunk_left == 0:
            if self.chunk_hash is not None:
                self._take_crlf()
                self._verify_chunk()
            header = self._line().decode("latin-1")
            size_text, _, ext = header.partition(";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise S3Error("InvalidChunkSizeError", "Malformed aws-chunked encoding: bad chunk size") from None
            self.current_sig = None
            if self.signed:
                key, _, sig = ext.partition("=")
                if key.strip() != "chunk-signature" or len(sig.strip()) != 64:
                    raise S3Error("SignatureDoesNotMatch", "A chunk of the streaming upload is not signed")
                self.current_sig = sig.strip()
            self.chunk_hash = hashlib.sha256()
            if size == 0:
                self._verify_chunk()
                self.chunk_hash = None
                self._read_trailers()
                return b""
            self.chunk_left = size
        data = self._take(min(n, self.chunk_left)) if len(self.buffer) < min(n, self.chunk_left) else None
        if data is None:
            k = min(n, self.chunk_left)
            data, self.buffer = self.buffer[:k], self.buffer[k:]
        self.chunk_left -= len(data)
        return data

    def _take_crlf(self):
        if self._take(2) != b"\r\n":
            raise S3Error("InvalidChunkSizeError", "Malformed aws-chunked encoding: missing CRLF after a chunk")

    def _verify_chunk(self):
        if not self.signed:
            return
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.auth.amz_date, self.auth.scope, self.prev_signature,
                         EMPTY_SHA256, self.chunk_hash.hexdigest()])
        expected = sign(self.auth.signing_key, sts)
        if not hmac.compare_digest(expected, self.current_sig or ""):
            raise S3Error("SignatureDoesNotMatch", "The chunk signature we calculated does not match the one you "
                          "provided.")
        self.prev_signature = expected

    def _read_trailers(self):
        if not self.mode.endswith("TRAILER"):
            self._take_crlf()
            return
        raw = b""
        trailer_sig = None
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "x-amz-trailer-signature":
                trailer_sig = value
                continue
            raw += f"{name}:{value}\n".encode()
            if name.startswith("x-amz-checksum-"):
                if name not in self.trailer_names:
                    raise S3Error("InvalidRequest", f"Trailer {name} was not announced in x-amz-trailer")
                self.expected[name[15:]] = value
        if self.signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", self.auth.amz_date, self.auth.scope, self.prev_signature,
                             hashlib.sha256(raw).hexdigest()])
            if not hmac.compare_digest(sign(self.auth.signing_key, sts), trailer_sig or ""):
                raise S3Error("SignatureDoesNotMatch", "The trailer signature does not match.")
        for t in self.trailer_names:
            if t.startswith("x-amz-checksum-") and t[15:] not in self.expected:
                raise S3Error("InvalidRequest", f"The announced trailer {t} is missing")

    def _finish(self):
        if self.chunked and self.decoded_length is not None and self.size != self.decoded_length:
            raise S3Error("IncompleteBody", f"The decoded body is {self.size} bytes, but "
                          f"x-amz-decoded-content-length says {self.decoded_length}")
        if self.sha256 and self.sha256.hexdigest() != self.mode:
            raise S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match "
                          "what was computed.")
        if self.content_md5 is not None and base64.b64encode(self.md5.digest()).decode() != self.content_md5:
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        for name, value in self.expected.items():
            got = base64.b64encode(self.checksums[name].digest()).decode()
            if got != value:
                raise S3Error("BadDigest", f"The {name.upper()} you specified did not match the calculated "
                              "checksum.")

    def checksum(self) -> dict | None:
        """The verified (or computed) full-object checksum to store and return."""
        for name in ("crc32", "crc32c", "sha1", "sha256"):
            if name in self.checksums:
                return {"algorithm": name.upper(), "value": base64.b64encode(self.checksums[name].digest()).decode()}
        return None

    def read_all(self, limit: int) -> bytes:
        """Small bodies (XML documents) only: bounded."""
        out = b""
        while True:
            data = self.read(65536)
            if not data:
                return out
            out += data
            if len(out) > limit:
                # 413 as every Egret API answers an oversized body (AWS says EntityTooLarge with a 400)
                raise S3Error("EntityTooLarge", f"The XML document is larger than {limit} bytes", status=413)
