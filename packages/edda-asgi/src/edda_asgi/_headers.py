"""Request headers as the endpoint needs them: lower-case names, every value kept, content modes told apart."""

from __future__ import annotations

from collections.abc import Iterable

from edda_asgi._problems import HTTPProblem

__all__ = ["MAX_HEADER_BYTES", "Headers", "media_type"]

# Binary-mode attributes travel in headers and are stored with the event, so their size is bounded here whatever the
# server allows (uvicorn accepts any header block that arrives in one read). CloudEvents intermediaries are only
# required to forward events up to 64 KiB.
MAX_HEADER_BYTES = 65_536


class Headers:
    """The headers of an ASGI request (names lower-cased by the server, values decoded as latin-1)."""

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self._values: dict[str, list[str]] = {}
        self.size = 0
        for name, value in raw:
            self.size += len(name) + len(value)
            self._values.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def check_size(self) -> None:
        """Raises:
        HTTPProblem: 431 if the headers are larger than ``MAX_HEADER_BYTES`` in all.
        """
        if self.size > MAX_HEADER_BYTES:
            raise HTTPProblem(
                431,
                f"Request headers total {self.size} bytes, over the limit of {MAX_HEADER_BYTES}; send large "
                f"attributes in the body (structured mode)",
                error_type="HeadersTooLarge",
            )

    def get(self, name: str) -> str | None:
        """The value of a header that may appear at most once.

        Raises:
            HTTPProblem: 400 if the header is repeated (which value is meant would be a guess).
        """
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise HTTPProblem(
                400, f"Header {name!r} appears {len(values)} times; send it once", error_type="InvalidHeader"
            )
        return values[0]

    def names(self) -> list[str]:
        return list(self._values)

    def binary_attributes(self) -> dict[str, str]:
        """The ``ce-*`` headers and ``content-type``, each exactly once, for a binary-mode CloudEvent."""
        wanted = [n for n in self._values if n.startswith("ce-") or n == "content-type"]
        out: dict[str, str] = {}
        for name in wanted:
            value = self.get(name)
            if value is not None:
                out[name] = value
        return out


def media_type(content_type: str | None) -> str:
    """``"Application/CloudEvents+JSON; charset=utf-8"`` -> ``"application/cloudevents+json"``."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def content_type_param(content_type: str | None, param: str) -> str | None:
    """The value of one parameter of a ``Content-Type`` (``charset``), or ``None``."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == param:
            return value.strip().strip('"') or None
    return None
