"""The wire format of dynalign, protocol version 3 (image version 4): frames, the weight
image and its codec, the device's records, the trajectory table block -- every constant
and layout in one place, each with one name.

* :mod:`.frames`: frame constants, :class:`Cmd`, :class:`Err`, CRCs,
  :func:`encode_frame`, :class:`FrameDecoder`;
* :mod:`.image`: the image layout (:class:`ImageHeader`, :class:`EncoderRegisters`, the
  layer blocks, the table block), :func:`build_image` / :func:`parse_image`,
  :func:`image_requests`;
* :mod:`.records`: :class:`Limits` (``IDENTIFY``, and the admission check of an image
  header), :class:`Status`, :class:`Results`, :func:`golden_results`.

The gateware (:mod:`dynalign.hw.engine`), the Python device model
(:mod:`dynalign.sw.device_model`) and the host driver (:mod:`dynalign.sw.driver`) all
import this package; it imports only the numeric formats and the golden models.

Frames (both directions)
------------------------
::

    SYNC  CMD  SEQ  LEN_LO  LEN_HI  PAYLOAD[LEN]  CRC_HI  CRC_LO

* ``SYNC`` = 0xA5.  Bytes outside a frame that are not ``SYNC`` are dropped (and
  counted); a ``SYNC`` starts a frame.
* ``CMD``: a :class:`Cmd` in a request; ``CMD | 0x80`` in its reply; ``0xFF``
  (:data:`ERROR`) in an error reply.
* ``SEQ``: any byte chosen by the host, echoed in the reply (the driver uses it to
  drop stale replies).
* ``LEN``: payload length, 16 bits little-endian.  A device accepts at most its
  ``max_payload`` (reported by ``IDENTIFY``); a longer frame is skipped (``LEN + 2``
  bytes) and answered with :attr:`Err.LENGTH`.
* ``CRC``: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
  XOR; check value of ``b"123456789"`` is 0x29B1) over ``CMD SEQ LEN_LO LEN_HI
  PAYLOAD``, sent most significant byte first.  A wrong CRC gets :attr:`Err.CRC` and the
  frame is not executed.
* A frame whose next byte does not arrive within the device's timeout is dropped and
  answered with :attr:`Err.TIMEOUT` (a truncated frame never hangs the device).
* A UART framing error inside a frame aborts it with :attr:`Err.FRAMING`; every framing
  error is counted in ``STATUS``, wherever it happens.
* Frames are executed one at a time, in order.  A device whose ``IDENTIFY`` record
  reports a receive queue (``queue`` > 0: :attr:`Limits.queue` bytes; the boards' have
  one) keeps receiving while it executes and replies: a host may have requests of up to
  ``queue`` bytes in all sent and not yet answered (the driver's pipelined
  :meth:`~dynalign.sw.driver.Device.stream` does), and a byte that finds the queue full
  is discarded and counted (``STATUS`` ``lost``).  Its replies leave through a transmit
  queue of the same size, so the next frame runs while a reply is on the line.  A device
  without a queue (``queue`` 0) discards and counts every byte that arrives between the
  end of a frame and the last byte of its reply: its host waits for each reply before
  it sends the next frame.  A ``STATUS`` reply shows the counters as they were at the
  end of its request.

Every request gets exactly one reply: its own (``CMD | 0x80``) or an error reply with
payload ``[err, cmd]`` (``cmd`` = the request's command byte, 0 if it never arrived).

Commands (payloads little-endian)
---------------------------------
========================  =========================  ======================================
command                   request payload            reply payload
========================  =========================  ======================================
``IDENTIFY``  0x01        --                         :data:`IDENTITY` record
``STATUS``    0x02        --                         :data:`STATUS` record
``WRITE_ENCODER`` 0x03    encoder block (80 bytes)   --  (written into the *active* model)
``IMAGE_BEGIN`` 0x10      image header (32 bytes),   --  (opens an upload into that bank)
                          bank u8
``IMAGE_DATA``  0x11      offset u32, bytes          --  (offset must follow on exactly)
``IMAGE_COMMIT`` 0x12     CRC-32 of the image u32    bank u8 (the bank now served)
``SELECT``    0x13        bank u8                    bank u8 (the bank now served)
``FEATURES``  0x20        K feature codes (int8)     --
``RUN``       0x21        --                         first :data:`RESULT_SUMMARY_LEN` bytes
                                                     of the results record
``RESULTS``   0x22        --                         the results record
``STREAM``    0x23        K feature codes (int8)     the results record (``FEATURES``,
                                                     ``RUN`` and ``RESULTS`` in one: the
                                                     frame to pipeline; errors as theirs)
``CLASSIFY``  0x24        K feature codes (int8)     the brief record: the first
                                                     :func:`brief_len` bytes of the
                                                     results record (class, flags,
                                                     cycles, spikes per layer); else as
                                                     ``STREAM``
========================  =========================  ======================================

Two resident models
-------------------
The device's model store has two banks, each a complete model (the image as uploaded;
on a table core also its trajectory table) with a state: *empty*, *uploading* or *valid*
(``STATUS``: :data:`BANK_EMPTY`, :data:`BANK_UPLOADING`, :data:`BANK_VALID`, and each
bank's image CRC-32).  One bank is *served* (``active_bank``; ``model_valid`` = it is
valid).  ``IMAGE_BEGIN`` names the bank to upload into: a bank other than 0 and 1 is
:attr:`Err.NO_BANK`, the bank being served (active and valid) :attr:`Err.BANK_SERVED`
(nothing changes either way); otherwise an open upload is abandoned (its bank empty), the
named bank is empty until its upload commits.  A complete upload with the right CRC-32
makes its bank valid and served; any failure leaves it empty and the served model
serving.  ``SELECT`` serves another resident model without an upload:
:attr:`Err.NO_BANK`, or :attr:`Err.BANK_INVALID` for a bank that is not valid (an upload
into it open or failed, or none ever).  The device reads its model where it was
uploaded: the LIF network's weights straight from the bank (the image is laid out in the
device's weight words), nothing copied; a ``SELECT`` reloads only the configuration
(header, layer constants; the biases of both banks stay resident) and serves that bank's
trajectory table: uploaded with the image on a table device, built on the device when the
bank's model was committed on a device with an integrator (one table per bank on both).

Weight image (device layout, version 4)
---------------------------------------
An image is the bytes of one model, uploaded into a bank of the store: ``IMAGE_BEGIN``
carries the 32-byte header (checked against the elaborated limits: a topology larger
than the device gets :attr:`Err.TOO_LARGE`; another version, or weight words of other
than the device's ``lanes``, :attr:`Err.IMAGE_FORMAT`) and the bank, ``IMAGE_DATA``
frames carry the rest in order, ``IMAGE_COMMIT`` carries the CRC-32 (IEEE 802.3:
reflected poly 0xEDB88320, init and final XOR 0xFFFFFFFF, ``zlib.crc32``) of the whole
image.  Layout (see :data:`IMAGE_HEADER`, :data:`LAYER_HEADER`, :func:`layer_block`)::

    0    header (32 bytes)                  magic "DY", version 4, K, T, L, in_shift,
                                            flags, total length u32, lanes u8 (the
                                            weight word), packed u8 (bit l: layer l + 1
                                            has 4-bit weights; version 4), 2 reserved
                                            bytes (0), n_out of each layer (u16 x 8)
    32   encoder block (80 bytes)           see :data:`ENCODER`
    112  step-shift block (32 bytes)        u8 per sample index t: sample t leaves the
                                            encoder as round_shift(sample, byte t);
                                            bytes t >= T are 0 (version 3)
    144  layer 1 .. L, each:                beta u16, flags u16, theta u32,
                                            bias int16[n_out], zero bytes to the next
                                            image offset that is a multiple of lanes,
                                            then ceil(n_out / lanes) x n_in weight words
                                            of lanes int8: byte k of word g n_in + j is
                                            W[g lanes + k, j] (0 past n_out) -- the
                                            order the LIF engine reads its weights in;
                                            a packed layer: half as many words (rounded
                                            up), logical word w in the low (w even) or
                                            high (w odd) nibbles of word w >> 1, int4
    ...  trajectory table (only with        sample int32[3 T][R], then saturation
         flag IMAGE_FLAG_TABLE)             u8[R]  (R = 2**CODE.width rows, row =
                                            code - CODE.min_int; entry 3 t + c of a row
                                            is component c of sample t)

The table block (:func:`table_len` bytes) is the golden trajectory table of the encoder
block (``ref_trajectory_table`` of every code), computed by the host.  It is for devices
without an on-chip integrator (core :data:`CORE_LIF_TABLE`, e.g. the iCEBreaker): they
serve the uploaded table as it is, and hold it in a double-buffered table memory of
their own, so ``bank_bytes`` counts only the bytes before it.  Such a device requires
the flag (and a device with an integrator refuses it: :attr:`Err.IMAGE_FORMAT`), and
answers ``WRITE_ENCODER`` with :attr:`Err.UNSUPPORTED` (the table would no longer match:
upload a whole image).  A saturation byte's bit 0 is the row's flag.

A layer with 4-bit weights (:data:`~dynalign.hw.formats.WEIGHT4`, -8..7: the golden
``LIFLayerParams.weight_bits`` 4) takes half the store: the network reads its logical
word ``w`` in store word ``w >> 1`` and computes exactly what it would from the int8
word.  Only a device whose ``IDENTIFY`` record sets :data:`CAP_PACKED`
(:attr:`Limits.packed`) takes such an image; another answers :attr:`Err.IMAGE_FORMAT`,
as both do for a ``packed`` bit at or above L.

With ``lanes`` 1 the layer blocks are those of version 1 (row i = the weights into
neuron i); a host lays an image out for a device with :func:`relayout` /
:func:`image_for` (the driver does), and an image of another version is refused (by
:func:`parse_image` with one line, by a device with :attr:`Err.IMAGE_FORMAT`).

A layer's ``flags`` u16 (the former reserved field of version 1) holds the
layer's reset mode in bit 0 (:data:`LAYER_FLAG_RESET_ZERO`): clear, a spike subtracts
``theta`` from the membrane; set, a spike sets the membrane to 0 (NIR's and snnTorch's
reset to zero).  Bits 1..15 are 0: :func:`parse_image` refuses an image with any of them
set, a device ignores them (it reads bit 0 only).

Layer 1 has ``n_in = 3 K`` (encoder channels f0x f0y f0z f1x ...), layer l > 1 has the
previous layer's ``n_out``.

Results record
--------------
::

    0  class u8   1  flags u8   2  L u8   3  n_out u8   4  cycles u32
    8  spikes of layer 1..L  u32 x L
       saturations of layer 1..L  u32 x L
       output spike counts  u16 x n_out

``flags``: bit 0 encoder saturation, bit 1 membrane saturation, bit 2 core error.
"""

from __future__ import annotations

from .commands import *  # noqa: F403
from .commands import __all__ as _commands
from .frames import *  # noqa: F403
from .frames import __all__ as _frames
from .image import *  # noqa: F403
from .image import __all__ as _image
from .records import *  # noqa: F403
from .records import __all__ as _records

__all__ = [*_commands, *_frames, *_image, *_records]
