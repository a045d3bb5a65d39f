"""Golden LIF network throughput: 10,000 samples of a 48-128-128-10 network, T=5.

Prints JSON: ``{"samples", "topology", "steps", "seconds", "samples_per_s"}``.
Target (issue 4): under 5 s.
"""

import json
import time

import numpy as np

from dynalign.hw.lif.ref import random_network, random_samples, ref_network


def main():
    rng = np.random.default_rng(0)
    topo, n, steps = [48, 128, 128, 10], 10_000, 5
    net = random_network(rng, topo, rate=0.2)
    x = random_samples(rng, n, steps, topo[0])
    ref_network(x[:10], net)                           # warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        res = ref_network(x, net)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"samples": n, "topology": topo, "steps": steps,
                      "seconds": round(best, 3), "samples_per_s": round(n / best),
                      "mean_spike_rate": [round(float(r), 3) for r in
                                          (res.spikes.mean(0) / (np.array(topo[1:]) * steps))],
                      "target_seconds": 5.0}))


if __name__ == "__main__":
    main()
