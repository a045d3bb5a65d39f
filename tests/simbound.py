"""Bounded waits for Amaranth testbenches: a design that deadlocks fails the test with
the name of the signal it never raised, instead of hanging the run."""


async def until(ctx, cond, *, limit: int, what: str) -> int:
    """Tick until ``cond`` (a 1-bit value) reads true after a clock edge, as
    ``ctx.tick().until(cond)`` does, but at most ``limit`` cycles; returns the cycles
    taken.  Fails with ``what`` (the stuck signal or state) after ``limit``."""
    for n in range(1, limit + 1):
        await ctx.tick()
        if ctx.get(cond):
            return n
    raise AssertionError(f"stuck: {what} still low after {limit} cycles")
