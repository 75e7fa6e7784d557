"""The compute driver contract on the wire: its methods (read from base.ComputeDriver), their values and errors as JSON."""
from __future__ import annotations

import base64
import dataclasses
import inspect
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from services.compute.drivers import base, specs

# the contract's dataclasses and errors, by the name that travels
DATACLASSES = {cls.__name__: cls for cls in (specs.GuestSpec, specs.DiskSpec, specs.VifSpec, specs.HostCaps)}
ERRORS = {cls.__name__: cls for cls in (specs.DriverError, specs.NotFound, specs.UnsafeDisk, specs.UnsupportedSpec,
                                        specs.HostLacks)}
STREAM_PARAM = "chunks"   # a parameter of this name is an iterable of bytes: it travels as the request body
TAG = "$type"             # marks an encoded value JSON has no type for (bytes, a dataclass, a dict with odd keys)
MAX_DEPTH = 16


class CodecError(ValueError):
    """A value that does not fit the contract; the message names the field (the agent answers 400 with it)."""


@dataclass(frozen=True)
class Method:
    """One public method of the driver contract: its signature, its types, and whether it streams."""
    name: str
    signature: inspect.Signature
    hints: dict
    streams_in: bool
    streams_out: bool


def _hints(fn) -> dict:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # an annotation naming something base.py does not import: check that argument loosely
        return {}


def _is_byte_stream(annotation, raw) -> bool:
    if typing.get_origin(annotation) in (Iterator, typing.Iterator, Iterable, typing.Iterable):
        return typing.get_args(annotation) == (bytes,)
    return isinstance(raw, str) and raw.replace(" ", "") in ("Iterator[bytes]", "typing.Iterator[bytes]",
                                                             "collections.abc.Iterator[bytes]")


def contract_methods(cls=base.ComputeDriver) -> dict[str, Method]:
    """Every public method the contract defines, found at import time so a method added to base.py is served
    without being written down again here."""
    out = {}
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        sig = inspect.signature(fn)
        hints = _hints(fn)
        out[name] = Method(name, sig, hints, STREAM_PARAM in sig.parameters,
                           _is_byte_stream(hints.get("return"), sig.return_annotation))
    return out


METHODS = contract_methods()


def method(name: str) -> Method | None:
    """The contract's method of that name, or None (never an attribute lookup on a driver by an arbitrary name)."""
    return METHODS.get(name) if isinstance(name, str) else None


# --- values ---------------------------------------------------------------------------------------------------
def encode(value):
    """A JSON-ready form of a contract value (dataclasses, bytes, tuples and int-keyed dicts included)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return {TAG: "bytes", "base64": base64.b64encode(value).decode()}
    if dataclasses.is_dataclass(value) and type(value).__name__ in DATACLASSES:
        return {TAG: type(value).__name__,
                "fields": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: encode(v) for k, v in value.items()}
        # JSON keys are strings: HostCaps.hugepages is {2048: 1024}; a user's key "$type" must not read as a tag
        return {TAG: "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    raise CodecError(f"a {type(value).__name__} cannot cross the driver contract")


def decode(value, field: str = "value", depth: int = 0):
    """The value encode() made, checked: unknown tags, dataclass fields and wrong types raise CodecError."""
    if depth > MAX_DEPTH:
        raise CodecError(f"{field}: nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v, f"{field}[{i}]", depth + 1) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise CodecError(f"{field}: not a JSON value")
    if TAG not in value:
        return {k: decode(v, f"{field}.{k}", depth + 1) for k, v in value.items()}
    tag = value[TAG]
    if tag == "bytes":
        return _bytes(value, field)
    if tag == "dict":
        items = value.get("items")
        if not isinstance(items, list) or not all(isinstance(i, list) and len(i) == 2 for i in items):
            raise CodecError(f"{field}: a dict is a list of [key, value] pairs")
        out = {}
        for i, (k, v) in enumerate(items):
            key = decode(k, f"{field}.items[{i}]", depth + 1)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise CodecError(f"{field}.items[{i}]: a dict key must be a string or a number")
            out[key] = decode(v, f"{field}[{key!r}]", depth + 1)
        return out
    if isinstance(tag, str) and tag in DATACLASSES:
        return _dataclass(DATACLASSES[tag], value.get("fields"), field, depth)
    raise CodecError(f"{field}: unknown type {str(tag)[:40]!r}")


def _bytes(value: dict, field: str) -> bytes:
    data = value.get("base64")
    if not isinstance(data, str):
        raise CodecError(f"{field}: bytes travel as base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        raise CodecError(f"{field}: invalid base64") from None


def _dataclass(cls, fields, field: str, depth: int):
    if not isinstance(fields, dict):
        raise CodecError(f"{field}: a {cls.__name__} needs its fields as an object")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for name in fields:
        if name not in known:
            raise CodecError(f"{field}.{name}: {cls.__name__} has no field {name!r}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in known.items():
        if name not in fields:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CodecError(f"{field}.{name}: a required field of {cls.__name__} is missing")
            continue
        kwargs[name] = check(decode(fields[name], f"{field}.{name}", depth + 1), hints.get(name), f"{field}.{name}")
    try:
        return cls(**kwargs)
    except specs.DriverError as exc:   # a spec that checks its own fields (VifSpec): the message names the field
        raise CodecError(f"{field}: {exc}") from None


def check(value, annotation, field: str):
    """value, if it is of the declared type (bool is not an int here; an int is a float); else CodecError."""
    if annotation is None or annotation is typing.Any:
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return check(value, option, field)
            except CodecError:
                continue
        raise CodecError(f"{field}: expected {_name(annotation)}, got {_kind(value)}")
    if annotation is type(None):
        ok = value is None
    elif annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif annotation in (str, bytes):
        ok = isinstance(value, annotation)
    elif annotation is list or origin is list or annotation is tuple or origin is tuple:
        ok = isinstance(value, list)
        args = typing.get_args(annotation)
        if ok and origin is list and args:
            value = [check(v, args[0], f"{field}[{i}]") for i, v in enumerate(value)]
    elif annotation is dict or origin is dict:
        ok = isinstance(value, dict)
    elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        ok = isinstance(value, annotation)
    else:
        return value   # a type the contract does not use yet: let the driver judge it
    if not ok:
        raise CodecError(f"{field}: expected {_name(annotation)}, got {_kind(value)}")
    return value


def _name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


# --- calls ----------------------------------------------------------------------------------------------------
def encode_args(m: Method, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by name (defaults left to the node's driver), the stream argument left out."""
    bound = m.signature.bind(None, *args, **kwargs)   # None stands for self
    names = list(m.signature.parameters)[1:]
    return {k: encode(v) for k, v in bound.arguments.items() if k in names and k != STREAM_PARAM}


def decode_args(m: Method, document) -> dict:
    """Keyword arguments for the driver's method from a request document: unknown, missing or mistyped
    arguments raise CodecError naming the argument."""
    if not isinstance(document, dict):
        raise CodecError("arguments: expected an object of named arguments")
    params = dict(list(m.signature.parameters.items())[1:])
    out = {}
    for name, raw in document.items():
        if name not in params or name == STREAM_PARAM or params[name].kind in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise CodecError(f"{name}: {m.name} has no argument {name[:60]!r}")
        out[name] = check(decode(raw, name), m.hints.get(name), name)
    for name, p in params.items():
        if name != STREAM_PARAM and p.default is inspect.Parameter.empty and name not in out and p.kind not in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise CodecError(f"{name}: a required argument of {m.name} is missing")
    return out


def encode_error(exc: specs.DriverError) -> dict:
    """The contract error as the caller will raise it: the most specific class of the contract it is."""
    for cls in type(exc).__mro__:
        if cls.__name__ in ERRORS and ERRORS[cls.__name__] is cls:
            return {"type": cls.__name__, "message": str(exc)}
    return {"type": "DriverError", "message": str(exc)}


def decode_error(document: dict, prefix: str = "") -> specs.DriverError:
    cls = ERRORS.get(document.get("type"), specs.DriverError) if isinstance(document, dict) else specs.DriverError
    message = document.get("message") if isinstance(document, dict) else None
    return cls(prefix + (message if isinstance(message, str) else "the node's driver failed"))
