"""The whole-device cycle model (:mod:`dynalign.hw.core.cycles`) on its own: what it
reduces to when the network never waits for a sample, that it is not that when the
network is fast, and its checks.  ``tests/test_top.py`` holds it to the Verilated top
level (both cores, lanes 1 and 8) and plants a timing fault it catches."""

import numpy as np
import pytest

from dynalign.hw.core.cycles import ref_device_cycles, ref_device_cycles_from_steps
from dynalign.hw.lif.cycles import ref_cycles
from dynalign.hw.lif.ref import random_network, ref_network
from dynalign.hw.lif.schedule import INPUT_TO_FULL


def _run(seed, topology, k, steps=5, n=16, peak=4000, in_shift=None):
    rng = np.random.default_rng(seed)
    net = random_network(rng, topology, rate=0.3, in_shift=in_shift)
    samples = rng.integers(-peak, peak, size=(n, steps, 3 * k))
    return net, ref_network(samples, net)


# the first full input bank: the last of the 3K samples of step 0 taken (codes at 2 + 2i,
# the request complete at 2K; the first beat at 2K + 4, then one per cycle through a
# FIFO of 4, one per four cycles through the table core's FIFO of 1: the next read waits
# for the beat to be taken), INPUT_TO_FULL later
def _first_full(k, table):
    return 2 * k + 4 + (4 if table else 1) * (3 * k - 1)


@pytest.mark.parametrize("table", [False, True])
@pytest.mark.parametrize("lanes", [1, 8])
def test_a_slow_network_never_waits(table, lanes):
    """One feature (3 channels) into 64-neuron layers: every step outlasts the next
    step's samples, so the device count is the LIF network's own count plus the cycles
    to its first full input bank, the step start and the class offered."""
    k = 1
    net, res = _run(1, [3, 64, 64, 10], k)
    lif = ref_cycles(res, net, lanes=lanes)
    dev = ref_device_cycles(res, n_features=k, lanes=lanes, table=table)
    assert (dev == _first_full(k, table) + INPUT_TO_FULL + 1 + lif + 1).all()


def test_a_fast_network_waits_for_its_samples():
    """Sixteen features, mostly rounding to zero, into a 4-2 network on 8 lanes: the
    steps are often shorter than the 48 samples of the next step, so the device count
    exceeds that sum -- by more on the table core, whose lookup serves a sample every fourth
    cycle."""
    k = 16
    net, res = _run(2, [48, 4, 2], k, peak=300, in_shift=8)
    lif = ref_cycles(res, net, lanes=8)
    base = {t: _first_full(k, t) + INPUT_TO_FULL + 2 + lif for t in (False, True)}
    enc = ref_device_cycles(res, n_features=k, lanes=8, table=False)
    tab = ref_device_cycles(res, n_features=k, lanes=8, table=True)
    assert (enc >= base[False]).all() and (enc > base[False]).any()
    assert (tab > base[True]).all() and (tab > enc).all()


def test_checks():
    net, res = _run(3, [6, 4, 2], 2)
    with pytest.raises(TypeError, match="result must be a NetworkResult"):
        ref_device_cycles({}, n_features=2, lanes=1, table=False)
    with pytest.raises(ValueError, match="steps must have shape"):
        ref_device_cycles_from_steps(np.zeros((2, 3)), n_features=2, n_last=2, depth=1)
    with pytest.raises(ValueError, match="n_features"):
        ref_device_cycles(res, n_features=0, lanes=1, table=False)
