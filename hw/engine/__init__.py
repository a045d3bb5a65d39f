"""The command engine gateware: the host link of :mod:`dynalign.hw.wire`.

:class:`CommandEngine` composes four blocks, each a ``wiring.Component`` of its own:

* :class:`FrameReceiver` (:mod:`.receiver`): SYNC, header, payload buffer, CRC-16,
  length skip, timeout and framing aborts, the line counters;
* :class:`Dispatcher` (:mod:`.dispatcher`): command decode, length rules, the command
  checks and error codes, the core's handshakes, with :class:`HeaderCheck`
  (:mod:`.admission`), the admission check of an IMAGE_BEGIN header;
* :class:`ModelStore` (:mod:`.store`): the double-banked model store, two resident
  models (:class:`BankedStore`, :mod:`.banks`: block RAM or SPRAM, words of ``lanes``
  bytes that the core's LIF network reads its weights from), each bank's state and
  CRC-32, IMAGE_DATA offsets, commit, SELECT, the table block's writes to a table core,
  the feature buffer;
* :class:`ReplySender` (:mod:`.sender`): reply framing, CRC-16, the identity and status
  records, the results record read-out.

:class:`CoreSignature` (:mod:`.core`) is what a compute core implements;
:class:`StubCore` (:mod:`.stub`) is a tiny one for testing the engine alone.  The types
between the blocks are in :mod:`.layouts`; both checksums are :mod:`amaranth.lib.crc`
processors (:mod:`.crc`).
"""

from .admission import HeaderCheck
from .banks import SPRAM_BYTES, BankedStore, use_spram
from .core import CoreSignature, bank_addr_width, table_addr_width
from .dispatcher import Dispatcher
from .engine import CommandEngine
from .receiver import FrameReceiver
from .sender import ReplySender
from .store import ModelStore
from .stub import StubCore

__all__ = ["CommandEngine", "CoreSignature", "StubCore", "FrameReceiver", "Dispatcher",
           "HeaderCheck", "ModelStore", "BankedStore", "ReplySender", "bank_addr_width",
           "table_addr_width", "use_spram", "SPRAM_BYTES"]
