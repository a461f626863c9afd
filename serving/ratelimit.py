"""Per-key rate limits on the expensive routes: a moving window in process memory (the spec
parsed by the `limits` library). Each server process holds its own counts, so with N worker
processes (`relance serve --workers N`) each allows 1/N of every limit (at least one request):
the server as a whole never allows a key more than the limit, whichever worker a request meets.

A route opts in with the `RateLimited` dependency; over the limit the key gets 429 with a
`Retry-After` header (seconds) and a sentence. The limit is `Settings.rate_limit`
(`RELANCE_RATE_LIMIT`, e.g. "60/minute"), generous by default.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from limits import RateLimitItem, parse_many

from serving.deps import Principal, current_principal


class RateLimiter:
    """The app's limiter: one set of limits, counted per API key (its public prefix)."""

    def __init__(self, spec: str, *, processes: int = 1):
        self.items: list[RateLimitItem] = parse_many(spec)  # ValueError on a malformed setting
        # this process's share of each limit: the kernel spreads connections over the workers,
        # so a key may meet its share on one worker a little before the whole limit is used;
        # erring that way keeps the documented limit an upper bound
        self.allowed = [max(1, item.amount // max(1, processes)) for item in self.items]
        # per (limit, key): the times of the last `amount` requests allowed, oldest first. The
        # `limits` library's memory storage started a timer thread every 10 ms under load (~5 %
        # of a busy server's CPU); a bounded deque per key does the same moving window in O(1)
        self._hits: dict[tuple[int, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int | None:
        """Count one request of `key`; None if allowed, else the seconds until it would be
        (allowed: fewer than this process's share of `amount` requests of this key within the
        last `expiry` seconds, for every limit of the spec)."""
        now = time.monotonic()
        with self._lock:
            for index, item in enumerate(self.items):
                hits = self._hits.get((index, key))
                if hits is None:
                    hits = self._hits[(index, key)] = deque(maxlen=self.allowed[index])
                window = item.get_expiry()
                if len(hits) == self.allowed[index] and hits[0] > now - window:
                    return max(1, math.ceil(hits[0] + window - now))
                hits.append(now)
        return None


async def rate_limit(request: Request,
                     principal: Annotated[Principal, Depends(current_principal)]) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    wait = limiter.hit(principal.key_prefix)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many requests for this API key on expensive routes "
            f"(limit {request.app.state.settings.rate_limit}); retry in {wait} s",
            headers={"Retry-After": str(wait)})


RateLimited = Depends(rate_limit)
