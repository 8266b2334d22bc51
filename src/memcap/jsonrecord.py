"""Frozen records that travel as JSON: sweep specs kept in a shared storage, verification shards written to
files. One canonical text per record (sorted keys), read back into an equal record, and a content hash
for names that say which settings a record holds.

Invariants: `type(r).from_json(r.to_json()) == r`; the text depends only on the field values, so the same
record gives the same bytes on every machine, and `named` gives the same name to the same settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

__all__ = ["JsonRecord", "named", "tuples"]


def tuples(value: Any) -> Any:
    """JSON reads tuples back as lists: turn every list (nested too) into a tuple; dicts stay dicts."""
    return tuple(tuples(v) for v in value) if isinstance(value, list) else value


class JsonRecord:
    """A base for frozen dataclasses whose fields are JSON values (tuples stand for lists). A subclass
    whose fields need more than `tuples` to come back (NamedTuples, defaults for fields added later)
    overrides `_from_fields`."""

    if TYPE_CHECKING:
        __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls._from_fields(json.loads(text))

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Self:
        return cls(**{k: tuples(v) for k, v in fields.items()})


R = TypeVar("R", bound="Named")


class Named(JsonRecord):
    """A record with a `name` field."""

    name: str


def named(record: R) -> R:
    """The record with a hash of its every other setting appended to its name: rerunning a command
    resumes what it started, and changing any setting starts a new record beside the old one."""
    digest = hashlib.sha256(replace(record, name="").to_json().encode()).hexdigest()[:6]
    return replace(record, name=f"{record.name}-{digest}")
