"""Cases for checking :class:`dynalign.hw.lif.rtl.LIFNetwork` against
:func:`dynalign.hw.lif.ref.ref_network`.

A *case* is one network plus a batch of samples, as JSON-friendly data: the ``cfg``
writes that load the network, the sample words in stream order, and per sample the
expected read-back values (class, every counter of every layer, every per-neuron spike
count, every output membrane).  The testbenches (Amaranth sim and cocotb) replay a
case and hand back, per sample, the read-back values they saw plus the output class and
the cycle counter; :func:`compare` holds them to the expectation with ``==``.
"""

from __future__ import annotations

import numpy as np

from .ref import LIFNetworkParams, random_network, random_samples, ref_network
from .rtl import (
    RD_CLS,
    RD_CYCLES,
    LIFNetwork,
    bound_cycles_network,
    config_writes,
    rd_count_addr,
    rd_stat_addr,
    rd_vmem_addr,
)

__all__ = ["make_case", "compare", "describe_address", "random_case", "dut_for",
           "summarise"]


def _reads(dut: LIFNetwork, net: LIFNetworkParams, res, n: int) -> list[list[int]]:
    lay = dut.layout(net)
    out = [[RD_CLS, int(res.cls[n])]]
    for k, layer in enumerate(net.layers):
        out.append([rd_stat_addr(k, "spikes"), int(res.spikes[n, k])])
        out.append([rd_stat_addr(k, "synops"), int(res.synops[n, k])])
        out.append([rd_stat_addr(k, "saturations"), int(res.saturations[n, k])])
        for i in range(layer.n_out):
            out.append([rd_count_addr(lay.slot(k, i)), int(res.layer_counts[k][n, i])])
    last = len(net.layers) - 1
    for i in range(net.layers[-1].n_out):
        out.append([rd_vmem_addr(lay.slot(last, i)), int(res.v_final[n, i])])
    return out


def make_case(dut: LIFNetwork, net: LIFNetworkParams, samples, *, idle: float = 0.0,
              backpressure: float = 0.0, seed: int = 0) -> dict:
    """One case; ``samples`` (N, T, C) SAMPLE integers.  ``idle``: probability that the
    source holds ``valid`` low in a cycle; ``backpressure``: probability per cycle that
    the sink keeps ``ready`` low once the class is valid."""
    samples = np.asarray(samples)
    res = ref_network(samples, net)
    n, steps, _ = samples.shape
    lay = dut.layout(net)
    return {
        "topology": net.topology, "steps": int(steps), "lanes": dut.lanes,
        "writes": [[a, d] for a, d in config_writes(dut, net, steps)],
        "words": [[int(w) for w in samples[i].ravel()] for i in range(n)],
        "expected": [_reads(dut, net, res, i) for i in range(n)],
        "bound": [int(b) for b in bound_cycles_network(res, net, dut.lanes)],
        "synops": [int(s) for s in res.synops.sum(axis=1)],
        "spike_rate": [float(r) for r in
                       res.spikes.mean(axis=0) / (np.array(net.topology[1:]) * steps)],
        "gbase": lay.gbase,
        "idle": float(idle), "backpressure": float(backpressure), "seed": int(seed),
    }


def describe_address(case: dict, addr: int) -> str:
    """Human-readable name of read-back address ``addr`` in ``case``."""
    lanes, gbase = case["lanes"], case["gbase"]
    topo = case["topology"]

    def neuron(slot):
        for k in reversed(range(len(gbase))):
            if slot >= gbase[k] * lanes:
                return f"layer {k + 1} neuron {slot - gbase[k] * lanes} (of {topo[k + 1]})"
        return f"slot {slot}"

    if addr == RD_CLS:
        return "class"
    if addr == RD_CYCLES:
        return "cycles"
    if addr >= 0xC000:
        return f"v_final of {neuron(addr - 0xC000)}"
    if addr >= 0x8000:
        return f"spike count of {neuron(addr - 0x8000)}"
    k, what = divmod(addr - 0x10, 4)
    return f"layer {k + 1} {('spikes', 'synops', 'saturations')[what]}"


def compare(case: dict, got: list[dict]) -> dict:
    """``got``: per sample ``{"o": class, "reads": {addr: value}, "cycles": int}``.
    Returns ``{"compared", "mismatches", "first"}`` (``first`` describes the first
    mismatch, or ``None``)."""
    out = {"compared": 0, "mismatches": 0, "first": None}
    if len(got) != len(case["expected"]):
        out["mismatches"] += 1
        out["first"] = {"error": "missing results", "expected": len(case["expected"]),
                        "got": len(got), "topology": case["topology"]}
    for n, (g, exp) in enumerate(zip(got, case["expected"])):
        out["compared"] += 1
        bad = []
        if g["o"] != exp[0][1]:
            bad.append(("class on o", exp[0][1], g["o"]))
        reads = {int(a): v for a, v in g["reads"].items()}
        for addr, value in exp:
            if reads.get(addr) != value:
                bad.append((describe_address(case, addr), value, reads.get(addr)))
        if bad:
            out["mismatches"] += 1
            if out["first"] is None:
                what, e, v = bad[0]
                out["first"] = {"sample": n, "topology": case["topology"], "what": what,
                                "expected": e, "got": v, "differences": len(bad)}
    return out


def dut_for(topologies, *, lanes: int, weight_width: int = 8) -> LIFNetwork:
    """The smallest :class:`LIFNetwork` that holds every topology in ``topologies``."""
    from .rtl import NetworkLayout
    lays = [NetworkLayout(t, lanes=lanes) for t in topologies]
    return LIFNetwork(lanes=lanes, max_layers=max(len(t) - 1 for t in topologies),
                      max_neurons=max(max(t[1:]) for t in topologies),
                      max_inputs=max(t[0] for t in topologies),
                      weight_words=max(la.weight_words for la in lays),
                      group_words=max(la.group_words for la in lays),
                      weight_width=weight_width)


def random_case(rng: np.random.Generator, dut: LIFNetwork, topology, *, samples: int,
                steps: int = 5, rate: float | None = None, extreme: bool = False,
                idle: float = 0.0, backpressure: float = 0.0) -> dict:
    x = random_samples(rng, samples, steps, topology[0], extreme=0.2 if extreme else 0.01)
    # thresholds calibrated on the very inputs, so the measured rate is the target rate
    net = random_network(rng, topology, rate=rate, extreme=extreme,
                         weight_bits=dut.weight_width, calib=x if rate is not None else None)
    return make_case(dut, net, x, idle=idle, backpressure=backpressure,
                     seed=int(rng.integers(1 << 30)))


def summarise(cases: list[dict], results: list[dict]) -> dict:
    """Totals over cases: compared, mismatches, first mismatch, mean cycles / synops /
    bound per inference."""
    compared = mismatches = 0
    first = None
    cycles, bounds, synops = [], [], []
    for case, got in zip(cases, results):
        c = compare(case, got)
        compared += c["compared"]
        mismatches += c["mismatches"]
        first = first or c["first"]
        cycles += [g["cycles"] for g in got]
        bounds += case["bound"][:len(got)]
        synops += case["synops"][:len(got)]

    def mean(v):
        return float(np.mean(v)) if v else 0.0

    return {"compared": compared, "mismatches": mismatches, "first": first,
            "cycles_per_inference": mean(cycles), "synops_per_inference": mean(synops),
            "bound_cycles_per_inference": mean(bounds)}
