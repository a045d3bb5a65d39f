"""Expected results records computed another way: the naive scalar twins of the golden
models (:func:`dynalign.hw.encoder.ref.ref_encode_scalar`, from the real
:class:`EncoderConfig`, not the image's registers; :func:`dynalign.hw.lif.ref.ref_network_scalar`,
on the network before it was packed).  Independent of the image codec, of the vectorised
encoder and network, and of the device model's composition of them."""

from __future__ import annotations

import numpy as np

from dynalign.hw.encoder.ref import ref_encode_scalar
from dynalign.hw.lif.ref import ref_network_scalar
from dynalign.hw.wire import FLAG_ENC_SAT, FLAG_MEM_SAT, Results


def twin_results(network, config, codes) -> Results:
    """The results record (cycles 0) for one sample's ``codes``: each code's trajectory
    by the scalar twin, columns ``f0x f0y f0z f1x ...`` per step, then the scalar network."""
    trajs, sat = [], 0
    for c in codes:
        samples, n = ref_encode_scalar(int(c), config)
        trajs.append(samples)
        sat += n
    x = np.array([[v for tr in trajs for v in tr[t]] for t in range(config.samples)])
    r = ref_network_scalar(x, network)
    flags = (FLAG_ENC_SAT if sat else 0) | (FLAG_MEM_SAT if any(r["saturations"]) else 0)
    return Results(cls=r["cls"], flags=flags, cycles=0, spikes=tuple(r["spikes"]),
                   saturations=tuple(r["saturations"]), out_counts=tuple(r["out_counts"]))
