"""Seed-compatible import path: ``from edda.channels import subscribe, receive, publish, wait_event, sleep, ...``.

Edda 0.16 kept channels, CloudEvents waits and timers in one ``edda.channels`` module. These are aliases of the
names exported by :mod:`edda` (canonical: ``from edda import receive``); nothing is defined here.
``WaitForChannelMessageException``, ``WaitForTimerException`` and ``get_channel_stats`` have no equivalent; asking
for them raises an ``ImportError`` that says why.
"""

from __future__ import annotations

from edda._aliases import module_getattr
from edda._channels import (
    ChannelMessage,
    join_group,
    leave_group,
    publish,
    receive,
    send_to,
    subscribe,
    unsubscribe,
    wait_message,
)
from edda._events import ReceivedEvent, send_event, wait_event
from edda._waits import sleep, sleep_until, wait_timer, wait_until
from edda.exceptions import ChannelModeConflictError, EventTimeoutError

__all__ = [
    "ChannelMessage",
    "ChannelModeConflictError",
    "EventTimeoutError",
    "ReceivedEvent",
    "join_group",
    "leave_group",
    "publish",
    "receive",
    "send_event",
    "send_to",
    "sleep",
    "sleep_until",
    "subscribe",
    "unsubscribe",
    "wait_event",
    "wait_message",
    "wait_timer",
    "wait_until",
]

__getattr__ = module_getattr(__name__)
