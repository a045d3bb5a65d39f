"""The bus between the command engine and a compute core, and the widths it is sized by."""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dynalign.hw.formats import CODE
from dynalign.hw.validate import positive_int

__all__ = ["CoreSignature", "bank_addr_width", "table_addr_width"]


def bank_addr_width(bank_bytes: int) -> int:
    """Address bits of a byte offset inside one store bank."""
    return max(1, (positive_int("bank_bytes", bank_bytes) - 1).bit_length())


def table_addr_width(max_samples: int) -> int:
    """Bits of a table core's entry address ``Cat(row, 3 t + c)``."""
    return CODE.width + (3 * positive_int("max_samples", max_samples) - 1).bit_length()


class CoreSignature(wiring.Signature):
    """What the command engine asks of a compute core (directions seen from the core).

    Members
    -------
    load : In(1), strobe
        The active model in the store changed; re-read it.
    select : In(1)
        With ``load``: the change is a ``SELECT`` of a resident model (whose biases the
        core already holds, from the load after its commit).
    start : In(1), strobe
        Classify the features in the feature buffer.  The engine strobes ``load`` and
        ``start`` only while ``ready`` is high.
    ready : Out(1)
        Idle and loaded.
    done : Out(1), strobe
        The run finished and the results record is readable.
    store_addr : Out(store_addr_width); store_data : In(8 lanes)
        Read port into the active bank of the model store: word address within the
        image (words of ``lanes`` bytes, byte ``a`` in lane ``a mod lanes`` of word
        ``a // lanes``), data one cycle after the address.
    feat_addr : Out(feat_addr_width); feat_data : In(8)
        Read port into the feature buffer (int8 codes), data one cycle after the address.
    res_addr : In(16); res_data : Out(8); res_len : Out(16); brief_len : Out(16)
        The results record (:mod:`dynalign.hw.wire`), its length and that of its brief
        prefix (:func:`dynalign.hw.wire.brief_len`): byte ``res_addr`` valid at most
        one cycle after the address.
    bank : In(1)
        The active bank (a table core serves that bank of its table memory).
    tw_en : In(1), strobe; tw_is_flag : In(1); tw_addr : In(table_addr_width); tw_data : In(32)
    tw_bank : In(1)
        A write into bank ``tw_bank`` of a table core's table memory (the bank being
        uploaded, never the one served), from the table block of an image being
        uploaded (devices with ``Limits.table`` only).
        ``tw_is_flag = 0``: entry word ``tw_addr`` (= ``Cat(row, 3 t + c)``, the block's
        word order) gets the sample ``tw_data``; ``tw_is_flag = 1``: row ``tw_addr`` gets
        the saturation flag ``tw_data[0]``.
    """

    def __init__(self, *, store_addr_width: int, feat_addr_width: int,
                 table_addr_width: int = 1, lanes: int = 1):
        super().__init__({
            "load": In(1), "select": In(1), "start": In(1), "ready": Out(1), "done": Out(1),
            "store_addr": Out(store_addr_width), "store_data": In(8 * lanes),
            "feat_addr": Out(feat_addr_width), "feat_data": In(8),
            "res_addr": In(16), "res_data": Out(8), "res_len": Out(16),
            "brief_len": Out(16), "bank": In(1), "tw_en": In(1), "tw_is_flag": In(1),
            "tw_addr": In(table_addr_width), "tw_data": In(32), "tw_bank": In(1),
        })
