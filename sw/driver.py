"""Host driver: one class that speaks the link protocol (:mod:`dynalign.hw.wire`) over any
byte transport.

:class:`Device` is written once, with ``async`` methods that only await its transport,
so the same code runs

* on a board, over :class:`SerialTransport` (pyserial), driven by ``asyncio.run``
  (see :func:`run_sync`);
* against :class:`ModelTransport`, a loopback into the Python device model
  (:class:`dynalign.sw.device_model.DeviceModel`) -- the fake serial port of the CLI tests;
* in simulation, over the cocotb bridge (:class:`dynalign.sim.tb_top.SimUARTTransport`,
  driven by :mod:`dynalign.sw.link_tb`) on the UART pins of the Verilated top level
  (its transport awaits simulator triggers).

A transport has ``async send(data)`` and ``async recv() -> bytes`` (whatever arrived,
``b""`` when the line stayed quiet for the transport's timeout).
"""

from __future__ import annotations

import asyncio
import termios

import serial

from dynalign.hw.validate import check_int, positive_int
from dynalign.hw.wire import (
    ENCODER_LEN,
    FRAME_HEADER_LEN,
    FRAME_TRAILER_LEN,
    PROTOCOL_VERSION,
    REPLY,
    RESULT_SUMMARY_LEN,
    Brief,
    Cmd,
    Err,
    FrameDecoder,
    Limits,
    Results,
    Status,
    encode_frame,
    image_for,
    image_requests,
)

__all__ = ["Device", "DeviceError", "LinkTimeout", "SerialTransport", "ModelTransport",
           "run_sync", "RETRYABLE", "PortError"]

#: Errors caused by a damaged frame on the wire: the request can simply be sent again.
RETRYABLE = {Err.CRC, Err.TIMEOUT, Err.FRAMING}


class DeviceError(Exception):
    """The device answered with an error reply."""

    def __init__(self, err, cmd):
        try:
            err = Err(err)
        except ValueError:
            pass
        self.err, self.cmd = err, cmd
        name = err.name if isinstance(err, Err) else f"error {err}"
        super().__init__(f"device rejected command 0x{cmd:02x}: {name}")


class LinkTimeout(TimeoutError):
    """No reply within the allowed number of quiet periods."""


class PortError(OSError):
    """The serial port cannot be opened (missing, busy, no permission, bad settings)."""


class Device:
    """The protocol, over ``transport``.

    Parameters (keyword-only)
    -------------------------
    transport : object with ``async send(bytes)`` and ``async recv() -> bytes``
    quiet_limit : int
        Consecutive empty ``recv()`` results (quiet periods) before :class:`LinkTimeout`.
    retries : int
        How often :meth:`request` resends after a wire error (:data:`RETRYABLE`).
    """

    def __init__(self, transport, *, quiet_limit: int = 3, retries: int = 2):
        if not hasattr(transport, "send") or not hasattr(transport, "recv"):
            raise TypeError(f"transport must have send() and recv(), not {transport!r}")
        for name, value in (("quiet_limit", quiet_limit), ("retries", retries)):
            check_int(name, value, lo=0)
        self.transport = transport
        self.quiet_limit = max(1, quiet_limit)
        self.retries = retries
        self._seq = 0
        self._decoder = FrameDecoder(max_payload=0xFFFF)
        self._backlog: list = []            # decoded frames not handed out yet
        self.limits: Limits | None = None
        self.bytes_sent = 0
        self.bytes_received = 0

    # -- frames ---------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    async def send_raw(self, data: bytes) -> None:
        """Put bytes on the wire as they are (fault injection)."""
        self.bytes_sent += len(data)
        await self.transport.send(bytes(data))

    async def receive(self, *, seq: int | None = None):
        """The next reply frame (with ``seq`` if given; stale replies are dropped).
        Frames that arrived together are handed out one per call, in order."""
        while self._backlog:
            frame = self._backlog.pop(0)
            if seq is None or frame.seq == seq:
                return frame
        quiet = 0
        while True:
            data = await self.transport.recv()
            if not data:
                quiet += 1
                if quiet >= self.quiet_limit:
                    self._decoder.reset()
                    raise LinkTimeout("no reply from the device")
                continue
            quiet = 0
            self.bytes_received += len(data)
            frames = self._decoder.feed(data)
            for i, frame in enumerate(frames):
                if seq is None or frame.seq == seq:
                    self._backlog = frames[i + 1:]
                    return frame

    async def request_once(self, cmd: int, payload: bytes = b""):
        seq = self._next_seq()
        await self.send_raw(encode_frame(cmd, payload, seq=seq))
        frame = await self.receive(seq=seq)
        if frame.is_error:
            raise DeviceError(frame.payload[0] if frame.payload else 0, cmd)
        if frame.cmd != (cmd | REPLY):
            raise DeviceError(0, cmd)
        return frame.payload

    async def request(self, cmd: int, payload: bytes = b"") -> bytes:
        """Send one request and return its reply payload; resend after wire errors
        (:data:`RETRYABLE`, lost replies) up to ``retries`` times."""
        for attempt in range(self.retries + 1):
            try:
                return await self.request_once(cmd, payload)
            except DeviceError as exc:
                if exc.err not in RETRYABLE or attempt == self.retries:
                    raise
            except LinkTimeout:
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")

    # -- commands -------------------------------------------------------------------
    async def identify(self) -> Limits:
        self.limits, version = Limits.unpack(await self.request(Cmd.IDENTIFY))
        if version != PROTOCOL_VERSION:
            raise DeviceError(0, Cmd.IDENTIFY)
        return self.limits

    async def status(self) -> Status:
        return Status.unpack(await self.request(Cmd.STATUS))

    async def upload(self, image: bytes, *, bank: int | None = None) -> int:
        """Upload a device image (:func:`dynalign.hw.wire.build_image`) into store bank
        ``bank`` (default: the bank not being served, from ``STATUS``); returns the bank
        now served (the uploaded one).  The served model keeps running until the commit
        succeeds; a failed upload leaves ``bank`` empty and the served one serving.  The
        image is sent as the device takes it (:func:`dynalign.hw.wire.image_for`: its
        weights in the device's lane words, with the trajectory table block for a device
        that serves an uploaded table)."""
        limits = self.limits or await self.identify()
        image = image_for(image, limits)
        if bank is None:
            st = await self.status()
            bank = st.active_bank ^ 1 if st.model_valid else st.active_bank
        reply = None
        for cmd, payload in image_requests(image, max_payload=limits.max_payload, bank=bank):
            reply = await self.request(cmd, payload)
        return reply[0]

    async def select(self, bank: int) -> int:
        """Serve the model resident in store bank ``bank`` (``SELECT``; no upload);
        returns the bank now served."""
        if bank not in (0, 1):
            raise ValueError(f"a device has banks 0 and 1, not {bank!r}")
        return (await self.request(Cmd.SELECT, bytes([bank])))[0]

    async def write_encoder(self, block: bytes) -> None:
        if len(block) != ENCODER_LEN:
            raise ValueError(f"encoder block must be {ENCODER_LEN} bytes, not {len(block)}")
        await self.request(Cmd.WRITE_ENCODER, block)

    @staticmethod
    def _codes_payload(codes) -> bytes:
        """The payload of one row of feature codes (int8, two's complement bytes)."""
        codes = [int(c) for c in codes]
        if any(not -128 <= c <= 127 for c in codes):
            raise ValueError(f"feature codes must be int8, got {codes}")
        return bytes(c & 0xFF for c in codes)

    async def set_features(self, codes) -> None:
        await self.request(Cmd.FEATURES, self._codes_payload(codes))

    async def run(self) -> tuple[int, int, int]:
        """``RUN`` -> ``(class, flags, cycles)``."""
        reply = await self.request(Cmd.RUN)
        if len(reply) != RESULT_SUMMARY_LEN:
            raise DeviceError(0, Cmd.RUN)
        return Results.unpack_summary(reply)

    async def results(self) -> Results:
        return Results.unpack(await self.request(Cmd.RESULTS))

    async def classify(self, codes) -> Results:
        await self.set_features(codes)
        await self.run()
        return await self.results()

    async def stream(self, rows, *, window: int | None = None,
                     brief: bool = False) -> list[Results] | list[Brief]:
        """The results record of every row of feature codes, in order, pipelined: up to
        ``window`` ``STREAM`` requests in flight (default: as many as the device's
        receive queue holds, :attr:`Limits.queue` bytes of requests not yet answered), so
        the device computes the next row while a reply is on the line.  ``brief``: the
        brief record of each (:class:`Brief`, ``CLASSIFY`` requests: class, flags,
        cycles and spikes per layer, a reply of ``brief_len(L)`` bytes instead of the
        whole record), for classifying at the link's full rate.  A device without a
        queue gets one request at a time.  A request whose reply is lost or damaged on
        the wire (:data:`RETRYABLE`, or no reply within ``quiet_limit`` quiet periods) is
        sent again, each at most ``retries`` times; any other error reply raises
        :class:`DeviceError`."""
        limits = self.limits or await self.identify()
        cmd, record = (Cmd.CLASSIFY, Brief) if brief else (Cmd.STREAM, Results)
        frames = [self._codes_payload(codes) for codes in rows]
        per_frame = max((len(f) for f in frames), default=0) + FRAME_HEADER_LEN \
            + FRAME_TRAILER_LEN
        fit = max(1, limits.queue // per_frame) if limits.queue else 1
        window = fit if window is None else min(positive_int("window", window), fit)
        window = min(window, 128)           # SEQ is one byte: no two alike in flight
        out: list = [None] * len(frames)
        pending: dict[int, tuple[int, int]] = {}        # seq -> (row, attempts so far)
        todo = list(range(len(frames)))[::-1]            # rows not yet sent (a stack)

        async def send(i, attempts):
            seq = self._next_seq()
            pending[seq] = (i, attempts)
            await self.send_raw(encode_frame(cmd, frames[i], seq=seq))

        while todo or pending:
            while todo and len(pending) < window:
                await send(todo.pop(), 0)
            try:
                frame = await self.receive()
            except LinkTimeout:
                lost = sorted(pending.items(), key=lambda kv: kv[1][0])
                pending.clear()
                for _, (i, attempts) in lost:
                    if attempts >= self.retries:
                        raise
                    await send(i, attempts + 1)
                continue
            if frame.seq not in pending:
                continue                                 # a stale reply
            i, attempts = pending.pop(frame.seq)
            if frame.is_error:
                err = frame.payload[0] if frame.payload else 0
                if err in RETRYABLE and attempts < self.retries:
                    await send(i, attempts + 1)
                    continue
                raise DeviceError(err, cmd)
            if frame.cmd != (cmd | REPLY):
                raise DeviceError(0, cmd)
            out[i] = record.unpack(frame.payload)
        return out

    async def classify_many(self, rows, *, brief: bool = False) -> list:
        """The results record of every row (``brief``: its brief record,
        :class:`Brief`): pipelined (:meth:`stream`) on a device with a receive queue, one
        :meth:`classify` (three round trips) at a time without one."""
        limits = self.limits or await self.identify()
        if limits.queue:
            return await self.stream(rows, brief=brief)
        got = [await self.classify(row) for row in rows]
        return [r.brief() for r in got] if brief else got


def run_sync(coro):
    """Run a driver coroutine from synchronous code (CLI, tests)."""
    return asyncio.run(coro)


class SerialTransport:
    """pyserial port (a board's USB serial).  ``recv`` waits up to ``timeout`` s.

    A port that goes away while in use (cable pulled, board reset, the virtual board
    stopped) raises :class:`PortError` with one line saying so; the device keeps the
    model it served before an upload that did not reach its commit."""

    def __init__(self, port: str, *, baud: int = 115200, timeout: float = 0.5):
        positive_int("baud", baud)
        self.port, self._timeout = port, timeout
        try:
            # a device path, or any pyserial URL (``socket://host:port``, ``loop://``)
            self._serial = serial.serial_for_url(port, baudrate=baud, timeout=timeout)
            self._serial.reset_input_buffer()
        except (serial.SerialException, ValueError, OSError, termios.error) as exc:
            # (opening a pty that has just gone away raises termios.error)
            raise PortError(f"cannot open serial port {port!r}: {exc}") from None

    def _gone(self, exc) -> PortError:
        return PortError(f"serial port {self.port!r} went away (cable pulled, board reset "
                         "or virtual board stopped); a model whose upload was cut short is "
                         "not served, the device keeps its previous one -- reconnect and "
                         "run the command again")

    async def send(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError, termios.error) as exc:
            raise self._gone(exc) from None

    async def recv(self) -> bytes:
        """Up to ``timeout`` s for a first byte, then whatever else has arrived (on a
        URL, read without waiting: a socket's ``in_waiting`` says at most 1; a serial
        device's is exact, and its settings are left alone)."""
        try:
            first = self._serial.read(1)
            if not first:
                return b""
            if "://" not in self.port:
                return first + self._serial.read(self._serial.in_waiting)
            self._serial.timeout = 0
            try:
                return first + self._serial.read(1 << 16)
            finally:
                self._serial.timeout = self._timeout
        except (serial.SerialException, OSError, termios.error) as exc:
            raise self._gone(exc) from None

    def close(self):
        try:
            self._serial.close()
        except (serial.SerialException, OSError, termios.error):
            pass                        # a port that went away is closed already


class ModelTransport:
    """Loopback into a :class:`dynalign.sw.device_model.DeviceModel` (a fake serial port).

    ``recv`` returns the model's pending reply bytes; when there are none it tells the
    model that the line went quiet (its timeout), as a real device's timer would.
    ``corrupt`` (optional) maps the bytes of each ``send`` before the model sees them.
    """

    def __init__(self, model, *, corrupt=None):
        self.model = model
        self.corrupt = corrupt
        self._pending = bytearray()
        self.sent = 0

    async def send(self, data: bytes) -> None:
        self.sent += len(data)
        if self.corrupt is not None:
            data = self.corrupt(bytes(data))
        self._pending += self.model.feed(data)

    async def recv(self) -> bytes:
        if not self._pending:
            self._pending += self.model.timeout()
        out, self._pending = bytes(self._pending), bytearray()
        return out
