"""Energy *estimate* per inference from operation counts -- never a measured power.

Table: 45 nm CMOS figures from M. Horowitz, "Computing's energy problem (and what we
can do about it)", ISSCC 2014: 32-bit integer add 0.1 pJ, 32-bit integer multiply
3.1 pJ (8-bit: add 0.03 pJ, multiply 0.2 pJ).

Model: layer 1 multiplies its (non-zero) inputs by weights -- one multiply-accumulate
(MAC = mult + add) per synaptic operation; deeper layers see binary spikes and only
accumulate -- one add (AC) per synaptic operation.  Membrane updates, memory traffic
and control are not counted; the figure compares codings, it is not a chip's power.
"""

from __future__ import annotations

__all__ = ["ENERGY_TABLE", "energy_pj"]

ENERGY_TABLE = {
    "name": "Horowitz ISSCC 2014, 45 nm, 32-bit integer",
    "add_pj": 0.1,
    "mult_pj": 3.1,
}


def energy_pj(synops_per_layer, table=ENERGY_TABLE) -> float:
    """``synops_per_layer[0] * (mult + add) + sum(synops_per_layer[1:]) * add`` in pJ."""
    ops = [float(s) for s in synops_per_layer]
    if not ops:
        raise ValueError("need the synaptic operations of at least one layer")
    if any(s < 0 for s in ops):
        raise ValueError("synaptic operation counts cannot be negative")
    return ops[0] * (table["mult_pj"] + table["add_pj"]) + sum(ops[1:]) * table["add_pj"]
