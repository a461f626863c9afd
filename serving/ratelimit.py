"""Per-key rate limits on the expensive routes, with the `limits` library (moving window, in
process memory: one server process holds its own counts, which is what a laptop or a single
container runs; several workers each allow the limit).

A route opts in with the `RateLimited` dependency; over the limit the key gets 429 with a
`Retry-After` header (seconds) and a sentence. The limit is `Settings.rate_limit`
(`RELANCE_RATE_LIMIT`, e.g. "60/minute"), generous by default.
"""
from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from serving.deps import Principal, current_principal


class RateLimiter:
    """The app's limiter: one set of limits, counted per API key (its public prefix)."""

    def __init__(self, spec: str):
        self.items: list[RateLimitItem] = parse_many(spec)  # ValueError on a malformed setting
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key: str) -> int | None:
        """Count one request of `key`; None if allowed, else the seconds until it would be."""
        for item in self.items:
            if not self.limiter.hit(item, key):
                reset = self.limiter.get_window_stats(item, key).reset_time
                return max(1, math.ceil(reset - time.time()))
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
