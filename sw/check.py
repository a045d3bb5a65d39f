"""``dynalign check``: a board (real or virtual) against the golden model over a dataset.

Over any :class:`dynalign.sw.driver.Device` (pyserial to a board or to the virtual
board, or a test's transport): upload model A, classify its samples; with a second
model B upload B into the other store bank and classify its samples, then ``SELECT``
A's bank again (no upload: both are resident) and classify A's first samples again.
A device with a receive queue (``IDENTIFY``'s ``queue``; the boards') classifies by
pipelined ``STREAM`` requests (``"streamed": true`` in the report), one without it by
three round trips per sample.  ``brief``: the brief records (``CLASSIFY``: class,
flags, cycles and spikes per layer; the link's full rate) against the golden records'
(:meth:`dynalign.hw.wire.Results.brief`).
Every results record is compared with ``==`` to the golden model's
(:func:`dynalign.hw.wire.golden_records` on the uploaded integers, for the device's own
limits -- its lanes and core -- so ``cycles`` is compared too): class, flags, cycles,
spikes and saturations per layer and every output spike count.

The report: per model the device accuracy (against the labels, where the samples have
them), the golden accuracy, the records compared and the mismatches, and the first
mismatch with both values of every field that differs; the host-measured throughput
(inferences per second of wall time, the link's round trips included) and the device
latency per inference (its ``cycles``; in microseconds at the board's clock when the
board is named).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dynalign.hw.wire import Limits, golden_records, parse_image

from .driver import Device
from .fit import fit_problem
from .verify_system import mismatch_message

__all__ = ["CheckModel", "check_device", "load_model", "SWITCH_BACK_SAMPLES"]

#: Samples of model A classified again after switching back from B.
SWITCH_BACK_SAMPLES = 5


@dataclass
class CheckModel:
    """One model to check: its device image, the feature codes (M, K) of its samples and
    their labels (``None``: no accuracy, only the comparison)."""
    name: str
    image: bytes
    codes: np.ndarray
    labels: np.ndarray | None = None


async def load_model(dev: Device, image: bytes, *, resident: dict) -> str:
    """Make ``image`` the model the device serves; the one place that switches models.
    A model this check uploaded earlier is still resident in its store bank (the device
    keeps two): ``SELECT`` that bank; any other is uploaded into the bank not being
    served (the served model keeps running until the commit).  ``resident`` maps an
    image to its bank and is updated; returns ``"select"`` or ``"upload"``."""
    key = bytes(image)
    if key in resident:
        await dev.select(resident[key])
        return "select"
    bank = await dev.upload(image)
    for k in [k for k, b in resident.items() if b == bank]:
        del resident[k]                                 # overwritten by this upload
    resident[key] = bank
    return "upload"


async def check_device(dev: Device, models: list[CheckModel], *, samples: int | None = None,
                       upload: bool = True, clock_hz: float | None = None,
                       brief: bool = False) -> dict:
    """Run the schedule of the module docstring on ``dev``; returns the report dict.

    ``samples``: rows per model (``None``: all); ``upload=False``: check model A as the
    device serves it now (no upload; one model only)."""
    if not 1 <= len(models) <= 2:
        raise ValueError("give one model, or two with --switch")
    if not upload and len(models) != 1:
        raise ValueError("--no-upload checks the one model the device serves: no --switch")
    limits: Limits = await dev.identify()
    parsed = [parse_image(m.image) for m in models]
    for m, p in zip(models, parsed):
        problem = fit_problem(p.header, limits)
        if problem:
            raise ValueError(f"{m.name}: {problem}")
    counts = [len(m.codes) if samples is None else min(samples, len(m.codes))
              for m in models]
    schedule = [(0, counts[0])]
    if len(models) == 2:
        schedule += [(1, counts[1]), (0, min(counts[0], SWITCH_BACK_SAMPLES))]
    expected = [golden_records(p, m.codes[:n], limits=limits)
                for p, m, n in zip(parsed, models, counts)]
    per = [{"model": m.name, "compared": 0, "mismatches": 0, "correct": 0, "golden_correct": 0,
            "labelled": 0, "cycles": []} for m in models]
    first = None
    busy_s, inferences, switches = 0.0, 0, 0
    how = {"upload": 0, "select": 0}
    resident: dict = {}
    wall0 = time.perf_counter()
    for step, (which, n) in enumerate(schedule):
        m, rep = models[which], per[which]
        if upload or step:
            how[await load_model(dev, m.image, resident=resident)] += 1
            switches += step > 0
        t0 = time.perf_counter()
        got = await dev.classify_many(m.codes[:n], brief=brief)
        busy_s += time.perf_counter() - t0
        inferences += n
        for i, g in enumerate(got):
            e = expected[which][i].brief() if brief else expected[which][i]
            rep["compared"] += 1
            rep["cycles"].append(g.cycles)
            if m.labels is not None:
                rep["labelled"] += 1
                rep["correct"] += int(g.cls == m.labels[i])
                rep["golden_correct"] += int(e.cls == m.labels[i])
            if g != e:
                rep["mismatches"] += 1
                first = first or {"model": m.name, "sample": i,
                                  "message": f"{m.name} sample {i}: "
                                             + mismatch_message(g, e)}
    wall = time.perf_counter() - wall0
    out_models = []
    for rep in per:
        cyc = rep.pop("cycles")
        lab = rep.pop("labelled")
        rep["accuracy"] = rep["correct"] / lab if lab else None
        rep["golden_accuracy"] = rep["golden_correct"] / lab if lab else None
        rep["cycles_per_inference"] = float(np.mean(cyc)) if cyc else None
        if clock_hz and cyc:
            rep["latency_us"] = float(np.mean(cyc)) / clock_hz * 1e6
        out_models.append(rep)
    report = {"compared": sum(r["compared"] for r in out_models),
              "mismatches": sum(r["mismatches"] for r in out_models),
              "models": out_models, "mode_switches": switches,
              "uploads": how["upload"], "selects": how["select"],
              "streamed": bool(limits.queue), "record": "brief" if brief else "full",
              "inferences_per_s": inferences / busy_s if busy_s > 0 else None,
              "wall_s": round(wall, 3), "bytes_sent": dev.bytes_sent,
              "bytes_received": dev.bytes_received,
              "device": {"lanes": limits.lanes, "table": limits.table,
                         "max_topology": [3 * limits.max_features, *limits.max_sizes]}}
    if clock_hz:
        report["clock_mhz"] = clock_hz / 1e6
    if first:
        report["first_mismatch"] = first
    return report
