"""Conversation affinity: the turns of one conversation stay on the model that answered its last turn.

A conversation is named by a request header (`affinity.header`, default `x-session-id`) or, failing that, the
body's `user` field, within the caller's tenant. When a request takes the same route (profile) as the
conversation's last turn and that turn's model is in its ranking, the model moves to the front (its fallbacks
stay behind it). A rule that sends the turn elsewhere wins: another route means no pin, and the new route's
model is pinned from then on. Blocked and failed turns pin nothing. Pins live in this process (an LRU with a
TTL); replicas do not share them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from pointsman.config.affinity import AffinityConfig


class Affinity:
    def __init__(self, config: AffinityConfig) -> None:
        self.config = config
        self.header = config.header.lower()
        self._pins: OrderedDict[tuple[str | None, str], tuple[str, str, float]] = OrderedDict()

    def session(self, ex: Any) -> tuple[str | None, str] | None:
        """(tenant, conversation) of a request (an Exchange), or None when it names none."""
        name = ex.headers_in.get(self.header)
        if not name and self.config.user_field and ex.request is not None:
            user = ex.request.body.get("user")
            name = user if isinstance(user, str) else None
        if not name:
            return None
        return (ex.principal.tenant if ex.principal else None, name)

    def apply(self, ex: Any) -> None:
        """Put the conversation's model first in `ex.selection` when the route is the same."""
        key = self.session(ex)
        pin = self._pins.get(key) if key is not None else None
        if pin is None or ex.selection is None or ex.decision is None:
            return
        route, model, stamp = pin
        if time.monotonic() - stamp > self.config.ttl:
            del self._pins[key]  # type: ignore[arg-type]
            return
        ranking = ex.selection.ranking
        if route != ex.decision.route or model not in ranking or ranking[0] == model:
            return
        ex.selection = replace(
            ex.selection,
            ranking=[model, *(m for m in ranking if m != model)],
            probability=1.0,
            reason=f"{ex.selection.reason}; kept on {model} for this conversation",
        )

    def remember(self, ex: Any) -> None:
        """After a turn: pin the model that answered it."""
        key = self.session(ex)
        if key is None or ex.served is None or ex.status >= 400 or ex.decision is None:
            return
        self._pins[key] = (ex.decision.route, ex.served, time.monotonic())
        self._pins.move_to_end(key)
        while len(self._pins) > self.config.max_sessions:
            self._pins.popitem(last=False)
