"""The command engine (gateware, with the stub core) and the device model side by side:
a *script* of line events is built step by step against the model (which fixes the
reply each step must get), then played into the Amaranth simulation of
:class:`dynalign.hw.engine.CommandEngine`, and the two reply streams are compared byte
for byte.

Line events (:class:`Script`):

* ``send(data)``: bytes, each offered after 0..:data:`MAX_STALL` idle cycles (far below
  the timeout).  A step ends where the model replies: the player then waits for the
  whole reply before the next byte (a host that waits for its reply).
* ``gap(g)``: the next byte is taken exactly ``g`` cycles after the previous one; inside
  a frame ``g > timeout`` ends it with ``TIMEOUT`` (the engine's rule: a frame survives
  ``timeout_cycles`` quiet cycles, not one more).
* ``framing()``: one cycle of the UART's framing-error strobe.
* ``busy(k, items)``: while the reply of the previous step is in flight, after ``k`` of
  its bytes, bytes and framing errors (``"F"``) arrive; the model counts them
  (``busy=True``), the device must too.

Every wait is bounded: a step whose reply does not come fails with the step, the seed,
the bytes that did come and the engine's handshake signals.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from dynalign.hw.engine import CommandEngine, StubCore
from dynalign.hw.wire import FrameDecoder, encode_frame
from dynalign.sw.device_model import DeviceModel

TIMEOUT = 64
#: most idle cycles before a byte of a ``send`` step (well below the timeout)
MAX_STALL = 6


@dataclass
class Step:
    kind: str           # "bytes", "gap", "framing", "busy"
    arg: object
    note: str
    reply: bytes        # the model's reply to this step
    good_seq: int | None = None     # a well-formed frame sent on a quiet line: its SEQ


@dataclass
class Script:
    """A line script and the model's replies (built together, step by step)."""
    limits: object
    timeout: int = TIMEOUT
    core: object = None
    steps: list = field(default_factory=list)
    framing_errors: int = 0          # strobes played, all of them counted by a device
    lost_bytes: int = 0              # bytes played while a reply was in flight

    def __post_init__(self):
        self.model = DeviceModel(limits=self.limits, core=self.core)

    def send(self, data: bytes, note: str, *, good_seq: int | None = None) -> bytes:
        """Bytes on the line; returns the model's replies to them."""
        good = good_seq if not self.model.in_frame else None
        chunk, out = bytearray(), bytearray()
        for b in bytes(data):
            chunk.append(b)
            r = self.model.feed(bytes([b]))
            if r:
                self.steps.append(Step("bytes", bytes(chunk), note, r, good))
                chunk.clear()
                out += r
                good = None
        if chunk:
            self.steps.append(Step("bytes", bytes(chunk), note, b""))
        return bytes(out)

    def frame(self, cmd, payload=b"", *, seq=0, note=None) -> bytes:
        return self.send(encode_frame(cmd, payload, seq=seq),
                         note or f"frame cmd 0x{int(cmd):02x} seq {seq}", good_seq=seq)

    def gap(self, g: int, note: str = "") -> bytes:
        r = self.model.timeout() if g > self.timeout else b""
        self.steps.append(Step("gap", g, note or f"{g} quiet cycles", r))
        return r

    def framing(self, note: str = "framing error") -> bytes:
        r = self.model.framing_error()
        self.framing_errors += 1
        self.steps.append(Step("framing", None, note, r))
        return r

    def can_busy(self) -> bool:
        return bool(self.steps) and len(self.steps[-1].reply) > 0 and \
            self.steps[-1].kind != "busy"

    def busy(self, k: int, items, note: str = "") -> None:
        """``items`` (ints: bytes, ``"F"``: a framing error) while the last reply is in
        flight, after ``k`` of its bytes (``k >= 1`` after a timeout, whose reply starts
        ``timeout`` cycles late)."""
        last = self.steps[-1]
        assert self.can_busy() and k < len(last.reply), (k, last)
        assert k >= 1 or last.kind != "gap", "a timeout's reply starts late: k >= 1"
        for it in items:
            if it == "F":
                self.model.framing_error(busy=True)
                self.framing_errors += 1
            else:
                self.model.feed(bytes([it]), busy=True)
                self.lost_bytes += 1
        self.steps.append(Step("busy", (k, list(items)), note or "bytes during a reply", b""))

    @property
    def expected(self) -> bytes:
        return b"".join(s.reply for s in self.steps)


def _engine(limits, timeout, store_ram, plant):
    """The engine with the stub core; ``framing`` is the line's framing-error strobe,
    into the engine as it is or through ``plant(eng, framing)`` (a planted fault)."""
    m = Module()
    m.submodules.eng = eng = CommandEngine(limits=limits, timeout_cycles=timeout,
                                           store_ram=store_ram)
    m.submodules.core = core = StubCore(store_addr_width=eng.store_aw,
                                        feat_addr_width=eng.feat_aw,
                                        table_addr_width=eng.table_aw)
    wiring.connect(m, eng.core, core.bus)
    framing = Signal()
    m.d.comb += eng.rx_framing_error.eq(framing if plant is None else plant(eng, framing))
    return m, eng, framing


class Stuck(AssertionError):
    pass


def play(script: Script, *, seed: int, ready_prob=0.7, store_ram="auto",
         table_writes=None, drain=None, plant=None):
    """Play ``script`` into the gateware; returns ``(reply bytes, per-step slices)``
    (slice ``i``: the bytes that came while step ``i`` was played and answered).
    ``table_writes`` (a list) collects the core's ``(bank, is_flag, addr, data)``;
    ``plant``: see :func:`_engine`."""
    m, eng, framing = _engine(script.limits, script.timeout, store_ram, plant)
    rng = random.Random(seed)
    out = bytearray()
    marks = []
    state = {"done": False, "allow": None, "quiet": 0, "error": None}
    steps = script.steps
    expected = script.expected
    drain = 3 * script.timeout if drain is None else drain

    def where(i, want, cycles):
        s = steps[i]
        return (f"seed {seed}, step {i} ({s.kind}: {s.note}): {len(out)} of {want} reply "
                f"bytes after {cycles} cycles; got so far {FrameDecoder().feed(bytes(out))}")

    async def wait_for(ctx, i, want, bound):
        for _ in range(bound):
            if len(out) >= want:
                return
            await ctx.tick()
        if bytes(out) != expected[:len(out)]:
            await mismatch(ctx)
        sig = {name: ctx.get(s) for name, s in (
            ("tx.valid", eng.tx.valid), ("tx.ready", eng.tx.ready),
            ("core.ready", eng.core.ready), ("core.start", eng.core.start),
            ("core.load", eng.core.load), ("core.done", eng.core.done))}
        raise Stuck(where(i, want, bound) + f"; signals {sig}")

    async def mismatch(ctx):
        await ctx.tick().repeat(40 * 16 + 200)      # the rest of the wrong reply
        raise AssertionError(first_difference(script, bytes(out), seed=seed))

    def bound_for(n_bytes):
        return 4 * script.timeout + 2000 + 60 * n_bytes

    async def byte(ctx, b, stall):
        if stall:
            await ctx.tick().repeat(stall)
        ctx.set(eng.rx.payload, b)
        ctx.set(eng.rx.valid, 1)
        await ctx.tick()
        if not ctx.get(eng.rx.ready):
            raise Stuck(f"seed {seed}: rx.ready low: the engine refused a byte")
        ctx.set(eng.rx.valid, 0)

    async def source(ctx):
        cum = 0
        pending_gap = None
        for i, s in enumerate(steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else None
            if s.reply and nxt is not None and nxt.kind == "busy":
                state["allow"] = cum + nxt.arg[0]       # hold the sink after k bytes
            if s.kind == "bytes":
                for b in s.arg:
                    if pending_gap is not None:
                        stall, pending_gap = pending_gap - 1, None
                    else:
                        stall = rng.randrange(MAX_STALL + 1) if rng.random() < 0.4 else 0
                    await byte(ctx, b, stall)
            elif s.kind == "gap":
                pending_gap = s.arg
                if s.reply:          # the timeout fires: nothing more to time
                    pending_gap = None
            elif s.kind == "framing":
                ctx.set(framing, 1)
                await ctx.tick()
                ctx.set(framing, 0)
            elif s.kind == "busy":
                k, items = s.arg
                await wait_for(ctx, i, cum - len(steps[i - 1].reply) + k,
                               bound_for(k))
                for it in items:
                    for _ in range(rng.randrange(3)):
                        await ctx.tick()
                    if it == "F":
                        ctx.set(framing, 1)
                        await ctx.tick()
                        ctx.set(framing, 0)
                    else:
                        await byte(ctx, it, 0)
                state["allow"] = None
                await wait_for(ctx, i, cum, bound_for(len(steps[i - 1].reply)))
            cum += len(s.reply)
            waited = s.kind == "busy" or \
                (s.reply and not (nxt is not None and nxt.kind == "busy"))
            if waited:
                await wait_for(ctx, i, cum, bound_for(len(s.reply)))
                if bytes(out[:cum]) != expected[:cum]:
                    await mismatch(ctx)
            marks.append(len(out))
        # let anything unexpected come out: stop once the line has been quiet a while
        state["quiet"] = 0
        for _ in range(100 * drain):
            if state["quiet"] >= drain:
                break
            await ctx.tick()
        state["done"] = True

    async def sink(ctx):
        while not state["done"]:
            allow = state["allow"]
            ready = rng.random() < ready_prob and (allow is None or len(out) < allow)
            ctx.set(eng.tx.ready, ready)
            _, _, valid, rdy, payload = await ctx.tick().sample(
                eng.tx.valid, eng.tx.ready, eng.tx.payload)
            if valid and rdy:
                out.append(payload)
                state["quiet"] = 0
            else:
                state["quiet"] += 1

    async def tables(ctx):
        bus = eng.core
        async for _, _, en, bank, is_flag, addr, data in ctx.tick().sample(
                bus.tw_en, bus.bank, bus.tw_is_flag, bus.tw_addr, bus.tw_data):
            if en:
                table_writes.append((bank ^ 1, is_flag, addr, data))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    if table_writes is not None:
        sim.add_process(tables)
    sim.run()
    slices = [bytes(out[a:b]) for a, b in zip([0] + marks[:-1], marks)]
    return bytes(out), slices


def first_difference(script: Script, got: bytes, *, seed: int) -> str:
    """Where the gateware's replies leave the model's: the step and both frames."""
    exp = script.expected
    n = next((i for i, (a, b) in enumerate(zip(got, exp)) if a != b), min(len(got), len(exp)))
    pos = 0
    for i, s in enumerate(script.steps):
        if pos + len(s.reply) > n or i == len(script.steps) - 1:
            return (f"seed {seed}: the replies differ at byte {n} (gateware {len(got)} "
                    f"bytes, model {len(exp)}), in the reply to step {i} ({s.kind}: "
                    f"{s.note}); gateware frames {FrameDecoder().feed(got[pos:pos + 400])}, "
                    f"model frames {FrameDecoder().feed(exp[pos:pos + len(s.reply)])}")
        pos += len(s.reply)
    return f"seed {seed}: replies differ at byte {n}"


def check_script(script: Script, *, seed: int, **kw):
    """Play ``script``, compare with the model byte for byte; returns the decoded frames
    and the per-step slices."""
    got, slices = play(script, seed=seed, **kw)
    assert got == script.expected, first_difference(script, got, seed=seed)
    return FrameDecoder().feed(got), slices
