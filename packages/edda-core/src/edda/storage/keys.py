"""Text every database stores and compares exactly, checked before any I/O so that a bad id is the caller's error.

The databases disagree on some text, and a value one of them cannot take would otherwise fail deep in the driver (a
raw ``asyncpg`` error, a ``UnicodeEncodeError``), or worse, succeed with another meaning:

* NUL (U+0000): PostgreSQL's ``text`` cannot hold it ("invalid byte sequence for encoding UTF8: 0x00").
* Lone UTF-16 surrogates (U+D800 to U+DFFF unpaired): not Unicode text; no driver can encode them as UTF-8.
* A trailing space in an identifier: MySQL and MariaDB compare ``VARCHAR`` values with ``PAD SPACE``, so ``"x "``
  would be the same instance id (channel, event id) as ``"x"`` there, and a different one elsewhere.

Identifiers (instance ids, workflow names, channel names, worker ids, outbox event ids) are refused with
:class:`~edda.exceptions.InvalidInputError` by every storage alike (the memory storage and the SQL ones use these
functions; a storage of your own should too, and the conformance kit checks it), so an app tested on ``memory://``
or SQLite behaves as in production on PostgreSQL. Values (workflow input, results, event data) need no check: they
are stored as JSON, whose escapes carry NUL and lone surrogates. Free text that the caller cannot correct (an error
message received from a broker) is stored with those characters replaced instead (:func:`clean_text`).
"""

from __future__ import annotations

from collections.abc import Iterable

from edda.exceptions import InvalidInputError
from edda.storage.records import StepCommit

__all__ = ["check_commit", "check_key", "check_keys", "check_text", "clean_text", "encodable", "workflow_name_set"]


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def encodable(value: str) -> bool:
    """Whether ``value`` can be encoded as UTF-8 (holds no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str | None, what: str) -> None:
    """Refuse text no database can store as it is (NUL, lone surrogates); ``None`` and non-strings pass.

    Raises:
        InvalidInputError: saying which character and how to fix it.
    """
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise InvalidInputError(
            f"{what} {_shown(value)} contains a NUL character (U+0000), which PostgreSQL cannot store as text; "
            f"remove it."
        )
    if not encodable(value):
        raise InvalidInputError(
            f"{what} {_shown(value)} contains a lone UTF-16 surrogate (U+D800 to U+DFFF), which is not Unicode "
            f"text and cannot be stored as UTF-8; decode the text from its bytes correctly."
        )


def check_key(value: str | None, what: str) -> None:
    """Refuse an identifier that some database cannot store or would confuse with another (see the module).

    Raises:
        InvalidInputError: saying what is wrong and how to fix it.
    """
    check_text(value, what)
    if isinstance(value, str) and value.endswith(" "):
        raise InvalidInputError(
            f"{what} {_shown(value)} ends with a space. MySQL and MariaDB ignore trailing spaces when they compare "
            f"text, so it would be the same {what} as without them; strip it."
        )


def check_keys(values: Iterable[str], what: str) -> None:
    """:func:`check_key` for each of ``values``."""
    for value in values:
        check_key(value, what)


def workflow_name_set(workflow_names: Iterable[str]) -> frozenset[str]:
    """The workflow names of a ``..._of`` call (:class:`~edda.storage.protocol.ClaimsByWorkflow`), each checked.

    Raises:
        TypeError: a lone string (it would be taken for its characters).
        InvalidInputError: a bad name, named.
    """
    if isinstance(workflow_names, str):
        raise TypeError(f"workflow_names must be a collection of names, not the string {workflow_names!r}")
    names = frozenset(workflow_names)
    check_keys(names, "workflow name")
    return names


def check_commit(commit: StepCommit) -> None:
    """Check the text of a unit of work: step ids, subscribed channels, messages and outbox events.

    Raises:
        InvalidInputError: the first bad value, named.
    """
    for event in commit.history:
        check_text(event.activity_id, "step id")
    for change in commit.subscriptions:
        check_key(change.channel, "channel name")
    for message in commit.messages:
        check_key(message.channel, "channel name")
        check_key(message.target_instance_id, "target instance id")
        check_text(message.message_id, "message id")
    for event in commit.outbox:
        check_key(event.event_id, "outbox event id")
        check_text(event.event_type, "outbox event type")
        check_text(event.event_source, "outbox event source")
        check_text(event.content_type, "outbox content type")


def clean_text(value: str | None) -> str | None:
    """Free text the caller cannot correct (an error received from elsewhere), made storable: NUL becomes U+FFFD
    and lone surrogates become ``\\udXXX`` escapes."""
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    value = value.replace("\x00", "\ufffd")
    if encodable(value):
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
