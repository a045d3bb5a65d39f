"""NIR export and import: export -> ``nir.read``, the import of every supported node
type, every rejection (one line naming the node and the limit), and planted faults."""

from __future__ import annotations

import json

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="the optional NIR extra is not installed")

from nir_common import tiny_run  # noqa: E402

from dynalign.hw.encoder.ref import FixedEncoder  # noqa: E402
from dynalign.hw.formats import CODE  # noqa: E402
from dynalign.hw.lif.ref import ref_network  # noqa: E402
from dynalign.sw import cli  # noqa: E402
from dynalign.sw.evaluate import evaluate_run  # noqa: E402
from dynalign.sw.nir_io import (  # noqa: E402
    NIR_DT,
    NIRError,
    SubtractResetWarning,
    float_forward,
    parse_graph,
)
from dynalign.sw.nirflow import FrontEnd, export_run, import_graph, sidecar_path  # noqa: E402
from dynalign.sw.rundir import RunDir  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("nir")
    zero = base / "zero"
    tiny_run(zero, reset="zero")
    graph = base / "zero.nir"
    export_run(zero, graph)
    return {"base": base, "zero": zero, "graph": graph}


def main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------------------ export
def test_export_reads_back_as_the_float_model(runs):
    g = nir.read(str(runs["graph"]))
    kinds = {name: type(node).__name__ for name, node in g.nodes.items()}
    assert kinds == {"input": "Input", "affine1": "Affine", "lif1": "LIF",
                     "affine2": "Affine", "lif2": "LIF", "output": "Output"}
    assert [tuple(e) for e in g.edges] == [("input", "affine1"), ("affine1", "lif1"),
                                           ("lif1", "affine2"), ("affine2", "lif2"),
                                           ("lif2", "output")]
    meta = json.loads(g.metadata["dynalign"])
    assert meta["dt"] == NIR_DT and meta["reset"] == ["zero", "zero"] and meta["exact_in_nir"]
    image = RunDir(runs["zero"]).image()
    for k, layer in enumerate(image.network.layers, start=1):
        lif = g.nodes[f"lif{k}"]
        np.testing.assert_allclose(lif.r, lif.tau / NIR_DT)          # input gain 1
        np.testing.assert_array_equal(lif.v_leak, 0)
        np.testing.assert_array_equal(lif.v_reset, 0)
        beta = 1 - NIR_DT / lif.tau
        assert abs(float(beta[0]) * 256 - layer.beta) <= 0.5       # Q1.8 of the float leak
        np.testing.assert_array_equal(g.nodes[f"affine{k}"].metadata["dynalign_weight"],
                                      layer.weight)
    # the Euler simulation of the graph read back is the run's float model, class for
    # class, on the front end's inputs (the table beside the graph)
    fe = FrontEnd.from_sidecar(sidecar_path(runs["graph"]))
    x, y = RunDir(runs["zero"]).split("test")
    codes, samples = fe.encode(x)
    with np.load(sidecar_path(runs["graph"])) as z:
        table = z["table_real"]
    gathered = table[codes - CODE.min_int]                     # (N, K, T, 3)
    real = gathered.transpose(0, 2, 1, 3).reshape(len(codes), samples.shape[1], -1)
    np.testing.assert_array_equal(real, samples / 4096.0)
    res = float_forward(parse_graph(g), real)
    assert float((res["cls"] == y).mean()) == evaluate_run(runs["zero"])["float_accuracy"]


def test_export_of_a_subtract_run_warns(tmp_path, capsys):
    run = tmp_path / "sub"
    tiny_run(run, reset="subtract", epochs=2)
    with pytest.warns(SubtractResetWarning, match="lif1, lif2 subtract the threshold"):
        res = export_run(run, tmp_path / "sub.nir")
    assert not res["exact_in_nir"]
    g = nir.read(str(tmp_path / "sub.nir"))
    assert g.nodes["lif1"].metadata["dynalign_reset"] in (b"subtract", "subtract")
    assert not json.loads(g.metadata["dynalign"])["exact_in_nir"]
    assert parse_graph(g).layers[0].reset == "subtract"           # read back as it was
    code, _, err = main(capsys, "export", run, "--nir", tmp_path / "sub2.nir")
    assert code == 0 and err.count("\n") == 1 and "warning: layers lif1, lif2" in err


def test_import_of_an_export_is_the_same_run(runs, tmp_path, capsys):
    code, out, err = main(capsys, "import", runs["graph"], "--out", tmp_path / "back",
                          "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["quantisation"] == "the integers recorded in the graph"
    assert RunDir(tmp_path / "back").image().payload() == \
        RunDir(runs["zero"]).image().payload()
    assert rep["golden_accuracy"] == evaluate_run(runs["zero"])["golden_accuracy"]
    code, out, _ = main(capsys, "eval", tmp_path / "back", "--json")     # an ordinary run
    assert code == 0 and json.loads(out)["torch_golden_exact"]


# ------------------------------------------------------------------- import: node types
def _chain(*nodes, n_in):
    names = {"input": nir.Input(input_type=np.array([n_in]))}
    for k, node in enumerate(nodes):
        names[f"n{k}"] = node
    names["output"] = nir.Output(output_type=np.array([10]))
    keys = list(names)
    return nir.NIRGraph(nodes=names, edges=list(zip(keys[:-1], keys[1:])),
                        type_check=False)


def _lif(n, *, tau=1e-3, thr=1.0, r=None, v_leak=0.0, v_reset=0.0):
    tau = np.broadcast_to(np.asarray(tau, float), (n,)).copy()
    return nir.LIF(tau=tau, r=tau / NIR_DT if r is None else np.broadcast_to(r, (n,)).copy(),
                   v_leak=np.full(n, v_leak), v_threshold=np.broadcast_to(
                       np.asarray(thr, float), (n,)).copy(), v_reset=np.full(n, v_reset))


def naive_nir(nodes, x, dt=NIR_DT):
    """NIR's equations, node by node and neuron by neuron (Euler at dt; IF: v += r I),
    per-neuron parameters as they are: the twin the folded import is held against."""
    n, steps, _ = x.shape
    state = {}
    counts = None
    for t in range(steps):
        h = x[:, t]
        for k, node in enumerate(nodes):
            if isinstance(node, nir.Flatten):
                continue
            if isinstance(node, (nir.Affine, nir.Linear)):
                h = h @ node.weight.T + (node.bias if isinstance(node, nir.Affine) else 0)
                continue
            v = state.get(k, np.zeros_like(h))
            if isinstance(node, nir.LIF):
                v = v + dt / node.tau * (node.v_leak - v + node.r * h)
            else:
                v = v + node.r * h
            s = v >= node.v_threshold
            v = np.where(s, node.v_reset, v)
            state[k] = v
            h = s.astype(float)
            counts = s.astype(int) if t == 0 and k == len(nodes) - 1 else counts
        counts = counts + h.astype(int) if t else counts
    return counts, state[len(nodes) - 1]


def test_every_supported_node_type(runs, tmp_path):
    """Input, Flatten, Linear, IF, Affine, LIF, Output; per-neuron thresholds and input
    gains and a v_leak, folded into the weights: the parsed float network spikes exactly
    as NIR's equations do, and imports into a run that evaluates bit-exact."""
    rng = np.random.default_rng(0)
    n_in, hid = 24, 16
    nodes = [nir.Flatten(input_type={"input": np.array([n_in])}, start_dim=0, end_dim=-1),
             nir.Linear(weight=rng.normal(0, 1.0, (hid, n_in))),
             nir.IF(r=rng.uniform(0.5, 2.0, hid), v_threshold=rng.uniform(1.0, 3.0, hid),
                    v_reset=np.zeros(hid)),
             nir.Affine(weight=rng.normal(0, 0.6, (10, hid)), bias=rng.normal(0, 0.1, 10)),
             _lif(10, tau=2e-3, thr=rng.uniform(0.5, 1.5, 10), r=rng.uniform(15, 25, 10),
                  v_leak=0.2)]
    g = _chain(*nodes, n_in=n_in)
    fnet = parse_graph(g)
    assert [type(n).__name__ for n in g.nodes.values()] == \
        ["Input", "Flatten", "Linear", "IF", "Affine", "LIF", "Output"]
    assert [ly.reset for ly in fnet.layers] == ["zero", "zero"] and fnet.layers[0].beta == 1
    x = rng.normal(0, 1.0, (200, 5, n_in))
    counts, _ = naive_nir(nodes, x)
    res = float_forward(fnet, x)
    np.testing.assert_array_equal(res["counts"], counts)
    assert res["spikes"][:, 0].sum() > 0 and counts.sum() > 0
    nir.write(str(tmp_path / "hand.nir"), g)
    rep = import_graph(tmp_path / "hand.nir", tmp_path / "hand", calib=runs["zero"])
    assert rep["quantisation"].startswith("per-layer scales")
    ev = evaluate_run(tmp_path / "hand")
    assert ev["torch_golden_exact"] and ev["topology"] == [24, 16, 10]


# ------------------------------------------------------------------------ rejections
def _bad_graphs(rng):
    ok_a = nir.Affine(weight=rng.normal(0, 1, (10, 24)), bias=np.zeros(10))
    lif = _lif(10)
    rec = {"input": nir.Input(input_type=np.array([24])), "a": ok_a, "l": _lif(10),
           "b": nir.Linear(weight=np.eye(10)), "output": nir.Output(output_type=np.array([10]))}
    return {
        "conv": (_chain(nir.Conv1d(input_shape=24, weight=np.ones((10, 1, 3)), stride=1,
                                   padding=0, dilation=1, groups=1, bias=np.zeros(10)), lif,
                        n_in=24), "node 'n0': Conv1d is not supported"),
        "cubalif": (_chain(ok_a, nir.CubaLIF(tau_syn=np.full(10, 1e-3),
                                             tau_mem=np.full(10, 1e-3), r=np.full(10, 10.0),
                                             v_leak=np.zeros(10), v_threshold=np.ones(10)),
                           n_in=24), "node 'n1': CubaLIF is not supported"),
        "delay": (_chain(ok_a, nir.Delay(delay=np.ones(10)), lif, n_in=24),
                  "node 'n1': Delay is not supported"),
        "recurrent": (nir.NIRGraph(nodes=rec, edges=[("input", "a"), ("a", "l"), ("l", "b"),
                                                     ("b", "l"), ("l", "output")],
                                   type_check=False), "node 'l' feeds both"),
        "per_neuron_tau": (_chain(ok_a, _lif(10, tau=np.linspace(1e-3, 2e-3, 10)), n_in=24),
                           "node 'n1': per-neuron time constant tau (10 distinct values"),
        "leak_range": (_chain(ok_a, _lif(10, tau=5e-5), n_in=24),
                       "node 'n1': leak beta = 1 - dt/tau = -1 (tau 5e-05, dt 0.0001) is "
                       "outside the device's range 0..1"),
        "v_reset": (_chain(ok_a, _lif(10, v_reset=0.5), n_in=24),
                    "node 'n1': v_reset = 0.5; the device resets to 0"),
        "no_lif": (_chain(ok_a, n_in=24), "node 'n0': the last Affine/Linear node needs"),
        "two_affines": (_chain(ok_a, nir.Linear(weight=np.eye(10)), lif, n_in=24),
                        "node 'n1': Linear follows 'n0' without a LIF"),
        "inputs": (_chain(nir.Affine(weight=np.ones((10, 30)), bias=np.zeros(10)), lif,
                          n_in=30), "node 'n0': 30 inputs, but the front end"),
        "board": (_chain(nir.Affine(weight=np.ones((200, 24)), bias=np.zeros(200)), _lif(200),
                         nir.Affine(weight=np.ones((10, 200)), bias=np.zeros(10)), lif,
                         n_in=24), "node 'n1': 200 neurons in layer 1; the icebreaker "
                                   "holds at most 128"),
    }


@pytest.mark.parametrize("case", ["conv", "cubalif", "delay", "recurrent", "per_neuron_tau",
                                  "leak_range", "v_reset", "no_lif", "two_affines",
                                  "inputs", "board"])
def test_rejections_are_one_line(runs, tmp_path, capsys, case):
    graph, msg = _bad_graphs(np.random.default_rng(1))[case]
    path = tmp_path / f"{case}.nir"
    nir.write(str(path), graph)
    code, out, err = main(capsys, "import", path, "--out", tmp_path / "r", "--calib",
                          runs["zero"], "--board", "icebreaker")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("dynalign import: error: "), err
    assert msg in err, err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_a_graph_too_large_for_the_ulx3s_bank_is_refused(runs, tmp_path, capsys):
    """24-512-512-10 is within the ULX3S's sizes, but an import's 8-bit weights need
    279,616 bytes of model, more than its bank (sized for 4-bit hidden layers) holds."""
    graph = _chain(nir.Affine(weight=np.ones((512, 24)), bias=np.zeros(512)), _lif(512),
                   nir.Affine(weight=np.ones((512, 512)), bias=np.zeros(512)), _lif(512),
                   nir.Affine(weight=np.ones((10, 512)), bias=np.zeros(10)), _lif(10),
                   n_in=24)
    path = tmp_path / "big.nir"
    nir.write(str(path), graph)
    code, out, err = main(capsys, "import", path, "--out", tmp_path / "r", "--calib",
                          runs["zero"], "--board", "ulx3s")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "bytes of model (8-bit weights) exceed the ulx3s's model bank of 166,080" in err
    assert not (tmp_path / "r").exists()


def test_missing_front_end_and_bad_file(tmp_path, capsys, runs):
    lonely = tmp_path / "lonely.nir"
    lonely.write_bytes(runs["graph"].read_bytes())
    code, _, err = main(capsys, "import", lonely, "--out", tmp_path / "r")
    assert code == 2 and "no front end for" in err and err.count("\n") == 1
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    code, _, err = main(capsys, "import", tmp_path / "junk.nir", "--out", tmp_path / "r")
    assert code == 2 and "not a readable NIR graph" in err and err.count("\n") == 1
    code, _, err = main(capsys, "import", tmp_path / "none.nir", "--out", tmp_path / "r")
    assert code == 2 and "no such NIR file" in err


def test_a_corrupted_weight_is_reported(runs, tmp_path):
    """Planted fault: the output weights of the class the run recognises best are zeroed
    in the graph.  Requantised, the golden model still follows the (corrupted) graph's
    float run, but both fall below the run they came from: the accuracy check sees it."""
    image = RunDir(runs["zero"]).image()
    fe = FrontEnd.from_run(runs["zero"])
    x, y = RunDir(runs["zero"]).split("test")
    gold = ref_network(fe.encode(x)[1], image.network).cls
    best = int(np.argmax([np.mean(gold[y == c] == c) for c in range(10)]))
    base = float((gold == y).mean())
    g = nir.read(str(runs["graph"]))
    g.nodes["affine2"].weight[best] = 0.0
    g.nodes["affine2"].bias[best] = -1.0
    for node in g.nodes.values():
        node.metadata = {}
    g.metadata = {}
    nir.write(str(tmp_path / "bad.nir"), g)
    rep = import_graph(tmp_path / "bad.nir", tmp_path / "bad", calib=runs["zero"])
    assert rep["golden_accuracy"] <= base - 0.05
    assert rep["float_golden_agreement"] >= 0.9


def test_front_end_samples_match_the_encoder(runs):
    fe = FrontEnd.from_sidecar(sidecar_path(runs["graph"]))
    image = RunDir(runs["zero"]).image()
    assert fe.encoder == image.encoder and fe.in_shift == image.network.in_shift
    codes = np.array([[CODE.min_int] * fe.n_features, [CODE.max_int] * fe.n_features])
    samples, _ = FixedEncoder(image.encoder).encode(codes)
    with np.load(sidecar_path(runs["graph"])) as z:
        assert z["table"].shape == (256, image.encoder.samples, 3)
        np.testing.assert_array_equal(z["table"][0, :, 0], samples[0, :, 0])
    with pytest.raises(NIRError, match="not a dynalign front end"):
        FrontEnd.from_sidecar(runs["graph"])
