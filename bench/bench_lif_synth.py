"""LIF network synthesis: resources and Fmax on iCEBreaker (iCE40 UP5K) and ULX3S-85F.

Builds :class:`dynalign.hw.lif.rtl.LIFNetwork` sized for a topology with the YoWASP tools through
:func:`dynalign.hw.synth.build` (every port registered at the boundary, nothing optimised away)
and prints JSON per design: board, topology, lanes, weight width, weight RAM, LUTs, FFs,
DSPs, block RAMs, SPRAMs and Fmax from nextpnr.

* iCEBreaker: 48-128-128-10 (16 features x 3 channels), 8-bit weights in SPRAM
  (24 K weights do not fit the UP5K's 120 kbit of EBR), lanes 2 and 4.
* ``ice40_l1_small``: 21-128-10, lanes 1, 8-bit weights in SPRAM (one weight per 16-bit
  SPRAM word: half of each word unused), the likely iCEBreaker accelerator's network.
* ULX3S-85F: the paper's 21-500-500-500-10 with 5-bit weights (518,500 weights; at 8 or
  6 bits they exceed the 208 DP16KD blocks once the state memory is counted), lanes 8.
* ``ice40_l2_enc``: the iCEBreaker LIF (48-128-128-10, lanes 2) *together with* the
  trajectory encoder for its 16 features, in the encoder's written-table form
  (:class:`dynalign.hw.encoder.server.TableServer`: the golden table computed by the host
  and written in; the on-chip RK4 integrator alone is ~3,000 LUTs, more than the UP5K has
  left beside any LIF array), the encoder's samples streaming into the network as in
  the accelerator.
"""

import argparse
import json
import sys

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from dynalign.hw.encoder.server import TableServer
from dynalign.hw.lif.rtl import LIFNetwork, NetworkLayout
from dynalign.hw.synth import build

DESIGNS = {
    "ice40_l2": ("icebreaker", [48, 128, 128, 10], 2, 8, "spram"),
    "ice40_l4": ("icebreaker", [48, 128, 128, 10], 4, 8, "spram"),
    "ecp5_paper": ("ulx3s", [21, 500, 500, 500, 10], 8, 5, "memory"),
    "ice40_l2_enc": ("icebreaker", [48, 128, 128, 10], 2, 8, "spram"),
    "ice40_l1_small": ("icebreaker", [21, 128, 10], 1, 8, "spram"),
}
#: designs built with the encoder in front of the network
WITH_ENCODER = {"ice40_l2_enc"}


class EncoderLIF(wiring.Component):
    """A :class:`TableServer` (the written-table encoder) streaming into a :class:`LIFNetwork`
    (the accelerator's core without the loader): every port of both, except the sample
    stream between them."""

    def __init__(self, lif: LIFNetwork, *, max_features: int, max_T: int = 5):
        self.lif = lif
        self.enc = TableServer(max_T=max_T, max_features=max_features)
        super().__init__({f"{prefix}_{name}": member
                          for prefix, comp, name, member in self._outer_members()})

    def _outer_members(self):
        """``(prefix, component, name, member)`` of every port both expose outside."""
        for prefix, comp, inner in (("enc", self.enc, "o_samples"), ("lif", self.lif, "i")):
            for name, member in comp.signature.members.items():
                if name != inner:
                    yield prefix, comp, name, member

    def elaborate(self, platform):
        m = Module()
        m.submodules.enc = enc = self.enc
        m.submodules.lif = lif = self.lif
        m.d.comb += [lif.i.payload.eq(enc.o_samples.payload.samples[0]),
                     lif.i.valid.eq(enc.o_samples.valid),
                     enc.o_samples.ready.eq(lif.i.ready)]
        for prefix, comp, name, member in self._outer_members():
            outer, inner = getattr(self, f"{prefix}_{name}"), getattr(comp, name)
            if not member.is_port:                     # a sub-interface (stream, cfg)
                wiring.connect(m, wiring.flipped(outer), inner)
            elif member.flow is In:
                m.d.comb += inner.eq(outer)
            else:
                m.d.comb += outer.eq(inner)
        return m


def make_dut(topology, lanes, weight_width, weight_ram):
    lay = NetworkLayout(topology, lanes=lanes)
    return LIFNetwork(lanes=lanes, max_layers=len(topology) - 1,
                      max_neurons=max(topology[1:]), max_inputs=topology[0],
                      weight_words=lay.weight_words, group_words=lay.group_words,
                      weight_width=weight_width, weight_ram=weight_ram)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("designs", nargs="*", metavar="DESIGN",
                   help=f"designs to build: {', '.join(DESIGNS)} (default: all)")
    args = p.parse_args()
    bad = [d for d in args.designs if d not in DESIGNS]
    if bad:
        p.error(f"unknown design(s) {bad} (choose from {', '.join(DESIGNS)})")
    out = []
    for key in args.designs or list(DESIGNS):
        board, topo, lanes, ww, ram = DESIGNS[key]
        dut = make_dut(topo, lanes, ww, ram)
        if key in WITH_ENCODER:
            dut = EncoderLIF(dut, max_features=topo[0] // 3)
        try:
            rep = build(dut, board=board, name=f"lif_{key}")
        except Exception as exc:               # noqa: BLE001 -- report, go on
            rep = {"board": board, "error": f"{type(exc).__name__}: {exc}"[:400]}
        rep.update({"design": key, "topology": topo, "lanes": lanes, "weight_width": ww,
                    "weight_ram": ram})
        out.append(rep)
        print(json.dumps(rep), file=sys.stderr)
    print(json.dumps({"designs": out}, indent=1))


if __name__ == "__main__":
    main()
