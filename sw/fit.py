"""Whether a model fits a device, said in the user's terms.

:func:`fit_problem` turns the size part of the device's admission check
(:meth:`dynalign.hw.wire.Limits.check_header`) into one line in features, time steps,
neurons per layer and weights, with the device's limit of each and the nearest size that
fits (the ``dynalign train`` options that make it), instead of an error code.
"""

from __future__ import annotations

from dynalign.hw.wire import ImageHeader, Limits

__all__ = ["fit_problem", "describe_size"]


def _weights(k: int, sizes) -> int:
    dims = [3 * k, *sizes]
    return sum(a * b for a, b in zip(dims, dims[1:]))


def describe_size(k: int, samples: int, sizes) -> str:
    """``"16 features (48 encoder inputs), 5 time steps, layers 128-10 (7,424 weights)"``"""
    return (f"{k} features ({3 * k} encoder inputs), {samples} time steps, layers "
            f"{'-'.join(str(s) for s in sizes)} ({_weights(k, sizes):,} weights)")


def fit_problem(header: ImageHeader, limits: Limits, *, where: str = "the device") -> str | None:
    """``None`` when a device with ``limits`` holds the model of ``header`` (its features,
    time steps, layers, neurons per layer and model bytes per bank -- the size checks of
    :meth:`dynalign.hw.wire.Limits.check_header`; with or without a table block);
    otherwise one line: what the model has, what ``where`` holds at most, and the
    nearest size that fits."""
    sizes = tuple(header.sizes[:header.n_layers])
    fits = (header.n_features <= limits.max_features
            and header.samples <= limits.max_samples
            and len(sizes) <= limits.max_layers
            and all(s <= m for s, m in zip(sizes, limits.max_sizes))
            and header.model_len() <= limits.bank_bytes)
    if fits:
        return None
    have = describe_size(header.n_features, header.samples, sizes)
    cap = describe_size(limits.max_features, limits.max_samples, limits.max_sizes)
    k = min(header.n_features, limits.max_features)
    hidden = [min(s, m) for s, m in zip(sizes[:-1], limits.max_sizes[:-1])]
    fix = f"--features {k}" + (f" --layers {','.join(map(str, hidden))}" if hidden else "")
    if header.samples > limits.max_samples:
        fix += f" (and an encoder of at most {limits.max_samples} time steps)"
    if sizes[-1] > limits.max_sizes[-1]:
        fix += f" (and at most {limits.max_sizes[-1]} classes)"
    return (f"the model does not fit {where}: it has {have}; {where} holds at most "
            f"{cap}; the nearest that fits: dynalign train {fix}")
