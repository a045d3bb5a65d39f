"""Whether a model fits a device, said in the user's terms.

:func:`fit_problem` turns the size part of the device's admission check
(:meth:`dynalign.hw.wire.Limits.check_header`) into one line in features, time steps,
neurons per layer and weights, with the device's limit of each and the nearest size that
fits (the ``dynalign train`` options that make it), instead of an error code.
:func:`board_network` is the network a board's default bitstream holds (what ``dynalign
train --board B`` and the demo train), :func:`board_problem` the same line for a network
not yet trained.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dynalign.constraints.boards import board_spec, default_limits
from dynalign.hw.formats import WEIGHT, WEIGHT4, weight_bits_per_layer
from dynalign.hw.wire import IMAGE_FLAG_TABLE, ImageHeader, Limits, packed_mask

__all__ = ["fit_problem", "describe_size", "describe_widths", "BoardNetwork", "board_network",
           "board_problem", "planned_header"]


def _weights(k: int, sizes) -> int:
    dims = [3 * k, *sizes]
    return sum(a * b for a, b in zip(dims, dims[1:]))


def describe_size(k: int, samples: int, sizes) -> str:
    """``"16 features (48 encoder inputs), 5 time steps, layers 128-10 (7,424 weights)"``"""
    return (f"{k} features ({3 * k} encoder inputs), {samples} time steps, layers "
            f"{'-'.join(str(s) for s in sizes)} ({_weights(k, sizes):,} weights)")


def fit_problem(header: ImageHeader, limits: Limits, *, where: str = "the device",
                board: str | None = None) -> str | None:
    """``None`` when a device with ``limits`` holds the model of ``header`` (its features,
    time steps, layers, neurons per layer and model bytes per bank -- the size checks of
    :meth:`dynalign.hw.wire.Limits.check_header`; with or without a table block -- and
    its 4-bit layers, if any, on a device that takes them);
    otherwise one line: what the model has, what ``where`` holds at most, and the
    nearest size that fits (with ``board``, also ``dynalign train --board``)."""
    sizes = tuple(header.sizes[:header.n_layers])
    if header.packed and not limits.packed:
        narrow = [str(k + 1) for k in range(len(sizes)) if header.layer_packed(k)]
        return (f"the model has 4-bit weights (layer{'s' * (len(narrow) > 1)} "
                f"{', '.join(narrow)}); {where} reads 8-bit weights only: train it with "
                f"--weight-bits 8")
    have = describe_size(header.n_features, header.samples, sizes)
    sized = (header.n_features <= limits.max_features
             and header.samples <= limits.max_samples
             and len(sizes) <= limits.max_layers
             and all(s <= m for s, m in zip(sizes, limits.max_sizes)))
    if sized and header.model_len() <= limits.bank_bytes:
        return None
    also = f" (or dynalign train --board {board}: {board_network(board).describe()})" \
        if board is not None else ""
    if sized:
        # the sizes are within the limits, the weights at their widths are not: a bank
        # sized for narrower weights (a board's 4-bit hidden layers)
        fix = "smaller layers"
        hidden_4 = (WEIGHT4.width,) * (len(sizes) - 1) + (WEIGHT.width,)
        narrow = replace(header, packed=packed_mask(hidden_4))
        if limits.packed and narrow.model_len() <= limits.bank_bytes:
            fix = f"--weight-bits {','.join(map(str, hidden_4))}"
        return (f"the model does not fit {where}: it has {have}, "
                f"{header.model_len():,} bytes at its weight widths "
                f"({_widths(header, len(sizes))}); a model bank of {where} holds "
                f"{limits.bank_bytes:,} bytes; train it with {fix}{also}")
    cap = describe_size(limits.max_features, limits.max_samples, limits.max_sizes)
    k = min(header.n_features, limits.max_features)
    hidden = [min(s, m) for s, m in zip(sizes[:-1], limits.max_sizes[:-1])]
    fix = f"--features {k}" + (f" --layers {','.join(map(str, hidden))}" if hidden else "")
    if header.samples > limits.max_samples:
        fix += f" (and an encoder of at most {limits.max_samples} time steps)"
    if sizes[-1] > limits.max_sizes[-1]:
        fix += f" (and at most {limits.max_sizes[-1]} classes)"
    if limits.bank_bytes < limits.largest_image():      # the sizes at narrower widths only
        cap += f", in {limits.bank_bytes:,} bytes a model bank"
    return (f"the model does not fit {where}: it has {have}; {where} holds at most "
            f"{cap}; the nearest that fits: dynalign train {fix}{also}")


def describe_widths(bits) -> str:
    """One width per layer in words: ``"8-bit weights"``, or ``"weights 4,4,8 bits"``."""
    bits = list(bits)
    if len(set(bits)) == 1:
        return f"{bits[0]}-bit weights"
    return f"weights {','.join(map(str, bits))} bits"


def _widths(header: ImageHeader, n_layers: int) -> str:
    return describe_widths(WEIGHT4.width if header.layer_packed(k) else WEIGHT.width
                           for k in range(n_layers))


@dataclass(frozen=True)
class BoardNetwork:
    """The largest network a board's default bitstream holds: ``features`` K, the
    ``layers`` (hidden sizes), at most ``samples`` time steps and ``classes`` outputs,
    with ``weight_bits`` (8, or one width per layer: the hidden layers', then the
    output's) -- the widths its model banks are sized for."""
    board: str
    features: int
    layers: tuple
    samples: int
    classes: int
    weight_bits: int | tuple = 8

    def widths_for(self, n_hidden: int):
        """The board's weight widths for a network of ``n_hidden`` hidden layers: its
        hidden layers' width for each, then its output layer's (8 when the board has
        one width)."""
        bits = self.weight_bits
        if isinstance(bits, int) or len(bits) == n_hidden + 1:
            return bits
        return (bits[0],) * n_hidden + (bits[-1],)

    def describe(self) -> str:
        width = describe_widths(weight_bits_per_layer(self.weight_bits, len(self.layers) + 1))
        return (f"{self.features} features, layers {','.join(map(str, self.layers))}, "
                f"{width}, up to {self.samples} time steps and {self.classes} classes")


def board_network(board: str) -> BoardNetwork:
    """:class:`BoardNetwork` of ``board`` (``icebreaker`` or ``ulx3s``): the sizes of
    :func:`dynalign.constraints.boards.default_limits` and the board's weight widths
    (``BoardSpec.weight_bits``), so that a model trained at them is exactly what
    ``dynalign build --board B`` (no RUN) holds.  The same for every dataset: the
    digits and MNIST recipes differ only in training options."""
    lim = default_limits(board)         # an unknown board: board_spec's one line
    bits = board_spec(board).weight_bits
    return BoardNetwork(board=board, features=lim.max_features,
                        layers=tuple(lim.max_sizes[:-1]), samples=lim.max_samples,
                        classes=lim.max_sizes[-1],
                        weight_bits=bits if isinstance(bits, int) else tuple(bits))


def board_problem(board: str, *, features: int, layers, samples: int,
                  classes: int, weight_bits=8) -> str | None:
    """:func:`fit_problem` of a network before it is trained: ``None`` when ``board``'s
    default bitstream holds K ``features``, hidden ``layers``, ``samples`` time steps and
    ``classes`` outputs at ``weight_bits`` (8 or 4, or one per layer), else the one line
    (the board's limit, the nearest that fits)."""
    lim = default_limits(board)
    header = planned_header(lim, features=features, sizes=(*layers, classes),
                            samples=samples, weight_bits=weight_bits)
    return fit_problem(header, lim, where=f"the {board} board", board=board)


def planned_header(limits: Limits, *, features: int, sizes, samples: int,
                   weight_bits=8) -> ImageHeader:
    """The image header of a network not yet exported (K ``features``, layer ``sizes``
    with the output last, ``samples`` time steps, ``weight_bits`` 8 or 4 or one per
    layer) as a device with ``limits`` would be sent it: its ``model_len()`` is the
    model's bytes in one bank."""
    sizes = tuple(sizes)
    packed = packed_mask(weight_bits_per_layer(weight_bits, len(sizes)))
    return ImageHeader(n_features=features, samples=samples, in_shift=0, sizes=sizes,
                       total_len=0, lanes=limits.lanes, packed=packed,
                       flags=IMAGE_FLAG_TABLE if limits.table else 0)
