"""Stored values: JSON text or raw bytes, and the payload size limit.

Every data column holds compact JSON text; a top-level ``bytes`` value (an activity result, an outbox body) goes to
a companion binary column instead, never base64. Text is encoded as UTF-8 without ``\\uXXXX`` escapes, so a 5 MB
non-ASCII string stays about 5 MB; a string holding lone surrogates (not encodable as UTF-8) falls back to ASCII
escapes so it still round-trips exactly.
"""

from __future__ import annotations

import json
from typing import Any

from edda.exceptions import PayloadTooLargeError

__all__ = ["PayloadGuard", "decode_json", "encode_json"]

_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode
_compact_ascii = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=True).encode


def encode_json(value: Any) -> tuple[str, int]:
    """Encode ``value`` as compact JSON text.

    Returns:
        The text and its size in bytes once UTF-8 encoded.
    """
    text = _compact(value)
    if text.isascii():
        return text, len(text)
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: keep them as \\uXXXX escapes
        text = _compact_ascii(value)
        return text, len(text)


def decode_json(text: str | None) -> Any:
    """Decode JSON text read from the database (SQL ``NULL`` is ``None``)."""
    return None if text is None else json.loads(text)


class PayloadGuard:
    """Encodes values for storage and rejects any larger than ``limit`` bytes (``None``: no limit)."""

    __slots__ = ("limit",)

    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    def check(self, size: int) -> None:
        """Raise if ``size`` bytes exceeds the limit.

        Raises:
            PayloadTooLargeError: over the limit.
        """
        if self.limit is not None and size > self.limit:
            raise PayloadTooLargeError(
                f"A stored value is {size:,} bytes, over this storage's limit of {self.limit:,} bytes "
                f"(max_payload_bytes). Store large blobs elsewhere and pass a reference."
            )

    def json(self, value: Any) -> str:
        """``value`` as JSON text, size-checked."""
        text, size = encode_json(value)
        self.check(size)
        return text

    def json_or_null(self, value: Any) -> str | None:
        """Like :meth:`json`, but ``None`` becomes SQL ``NULL``."""
        return None if value is None else self.json(value)

    def data(self, value: Any) -> tuple[str | None, bytes | None]:
        """Split a data value into its (JSON text, bytes) column pair, size-checked."""
        if isinstance(value, bytes | bytearray | memoryview):
            blob = bytes(value)
            self.check(len(blob))
            return None, blob
        return self.json_or_null(value), None

    def blob(self, value: bytes | None) -> bytes | None:
        """A binary column value, size-checked."""
        if value is None:
            return None
        blob = bytes(value)
        self.check(len(blob))
        return blob
