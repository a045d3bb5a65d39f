"""The widths the LIF core's blocks share, derived in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ..wire import Limits

__all__ = ["CoreLayout"]


@dataclass(frozen=True)
class CoreLayout:
    """What the core was elaborated for, and the register widths derived from it.

    ``limits`` (maxima and ``lanes``), the command engine's port widths, the encoder's
    code width and the LIF network's geometry (``max_inputs``, ``max_neurons``,
    ``weight_words``, ``group_words``, ``cls_width``: see
    :class:`dynalign.hw.lif.rtl.LIFNetwork`).
    """

    limits: Limits
    store_addr_width: int
    feat_addr_width: int
    code_width: int
    max_inputs: int
    max_neurons: int
    weight_words: int
    group_words: int
    cls_width: int

    @property
    def max_layers(self) -> int:
        return self.limits.max_layers

    @property
    def lanes(self) -> int:
        return self.limits.lanes

    @property
    def lane_bits(self) -> int:
        """``log2(lanes)`` (lanes is a power of two)."""
        return self.lanes.bit_length() - 1

    @property
    def field_width(self) -> int:
        """Bits of a layer's ``n_in`` / ``n_out`` / ``groups`` and of the loop counters."""
        return max(self.max_inputs, self.max_neurons).bit_length()

    @property
    def wbase_width(self) -> int:
        """Bits of a weight word address."""
        return self.weight_words.bit_length()

    @property
    def gbase_width(self) -> int:
        """Bits of a neuron group address."""
        return self.group_words.bit_length()

    @property
    def result_words(self) -> int:
        """32-bit words of the results record: spikes and saturations per layer, then
        one count per output neuron."""
        return 2 * self.max_layers + max(self.limits.max_sizes)
