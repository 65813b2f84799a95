"""The request's `Cache-Control` header: `no-cache` (do not serve from the cache; store the fresh answer),
`no-store` (do not store this answer; a cached one may still be served), `max-age=N` (serve only entries at
most N seconds old; 0 is no-cache). Unknown directives are ignored, as HTTP caches do."""

from __future__ import annotations

from dataclasses import dataclass


class BadCacheControl(ValueError):
    """A Cache-Control header the cache cannot honour (the gateway answers 400)."""


@dataclass(frozen=True, slots=True)
class Directives:
    read: bool = True  # may serve a cached answer
    write: bool = True  # may store this answer
    max_age: float | None = None


ANY = Directives()


def parse_cache_control(value: str | None) -> Directives:
    """The directives of a header value; a malformed max-age is a 400 naming the header."""
    if not value:
        return ANY
    read, write, max_age = True, True, None
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            read = False
        elif name == "no-store":
            write = False
        elif name == "max-age":
            arg = arg.strip().strip('"')
            if not arg.isdigit():
                raise BadCacheControl(
                    f"Cache-Control: max-age must be a whole number of seconds, got {arg!r}"
                )
            max_age = float(arg)
            if max_age == 0:
                read = False
    return Directives(read, write, max_age)
