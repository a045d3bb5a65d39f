"""Round trips with snnTorch (its own ``export_to_nir`` / ``import_from_nir``) on a tiny
digits network, and NeuroBench's metrics of a run.

* snnTorch -> dynalign: an snnTorch network (zero reset, the reset its importer and NIR
  define) trained on the encoder output of a dynalign run, exported by snnTorch,
  imported by dynalign (quantised on the run's train split), its golden classes against
  snnTorch's float run, and the imported network in the LIF RTL (Amaranth simulation):
  ``==`` on every read-back value;
* dynalign -> snnTorch: a zero-reset run exported, read back by ``import_from_nir``, its
  float simulation within 0.5 points of dynalign's float accuracy.

Each comparison is shown to fail once on a planted fault in the graph.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="the optional NIR extra is not installed")
snn = pytest.importorskip("snntorch", reason="the optional NIR extra is not installed")

import torch  # noqa: E402
from nir_common import lexicographic, tiny_run  # noqa: E402
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402
from test_lif_rtl import check as rtl_check  # noqa: E402

from dynalign.hw.lif.rtl import LIFNetwork  # noqa: E402
from dynalign.sw import cli  # noqa: E402
from dynalign.sw.evaluate import evaluate_run  # noqa: E402
from dynalign.sw.nirflow import FrontEnd, export_run, import_graph  # noqa: E402
from dynalign.sw.qat import torch_threads  # noqa: E402
from dynalign.sw.rundir import RunDir  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with torch_threads(1):          # small matrices: one thread is the fastest here
        yield


@pytest.fixture(scope="module")
def base(tmp_path_factory, one_thread):
    path = tmp_path_factory.mktemp("snn")
    tiny_run(path / "zero", reset="zero")
    fe = FrontEnd.from_run(path / "zero")
    ds = fe.dataset()
    real = {s: torch.tensor(fe.encode(getattr(ds, f"x_{s}"))[1] / 4096.0, dtype=torch.float32)
            for s in ("train", "test")}
    return {"path": path, "run": path / "zero", "x": real,
            "y": {"train": torch.as_tensor(ds.y_train), "test": ds.y_test}}


def snn_run(net, x):
    """snnTorch's float run over the T steps: (counts, final output membrane)."""
    leaky = [m for m in net.modules() if isinstance(m, snn.Leaky)]
    with torch.no_grad():
        snn_utils.reset(net)
        counts = 0
        for t in range(x.shape[1]):
            out = net(x[:, t])
            counts = counts + (out[0] if isinstance(out, tuple) else out)
    return counts.numpy(), leaky[-1].mem.numpy()


def quiet(fn, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()):      # snnTorch prints its progress
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def snn_graph(base, one_thread):
    torch.manual_seed(0)
    # per-neuron beta and threshold tensors: with scalars snnTorch's exporter writes
    # shapeless LIF nodes that its own type inference refuses.  reset_delay=False: the
    # reset NIR (and snnTorch's importer) define; snnTorch's default delays it a step, so
    # the final membrane of a neuron that spiked last stays above threshold
    def leaky(n):
        return snn.Leaky(beta=torch.full((n,), 0.85), threshold=torch.ones(n),
                         reset_mechanism="zero", reset_delay=False, init_hidden=True)
    net = torch.nn.Sequential(torch.nn.Linear(24, 32), leaky(32), torch.nn.Linear(32, 10),
                              leaky(10))
    x, y = base["x"]["train"], base["y"]["train"]
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _epoch in range(10):
        for idx in torch.randperm(len(y)).split(64):
            snn_utils.reset(net)
            counts = sum(net(x[idx, t]) for t in range(x.shape[1]))
            loss = torch.nn.functional.cross_entropy(2 * counts, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    graph = quiet(lambda: export_to_nir(net, x[:1, 0], ignore_dims=[0]))
    path = base["path"] / "snn.nir"
    nir.write(str(path), graph)
    return {"net": net, "path": path, "graph": graph}


def test_snntorch_to_dynalign(base, snn_graph, tmp_path):
    counts, mem = snn_run(snn_graph["net"], base["x"]["test"])
    snn_cls = lexicographic(counts, mem)
    y = base["y"]["test"]
    snn_acc = float((snn_cls == y).mean())
    assert snn_acc > 0.5
    rep = quiet(import_graph, snn_graph["path"], tmp_path / "imp", calib=base["run"])
    assert rep["reset"] == ["zero", "zero"]          # NIR's reset, as snnTorch trained it
    # the graph's float run inside dynalign is snnTorch's own
    assert abs(rep["float_accuracy"] - snn_acc) <= 0.005
    image = RunDir(tmp_path / "imp").image()
    gold = evaluate_run(tmp_path / "imp")
    assert gold["torch_golden_exact"]
    fe = FrontEnd.from_run(tmp_path / "imp")
    x_test, _ = RunDir(tmp_path / "imp").split("test")
    samples = fe.encode(x_test)[1]
    from dynalign.hw.lif.ref import ref_network
    golden_cls = ref_network(samples, image.network).cls
    agreement = float((golden_cls == snn_cls).mean())
    assert agreement >= 0.9 and abs(gold["golden_accuracy"] - snn_acc) <= 0.05
    # bit-exact in the LIF RTL: every read-back value of the imported network
    dut = LIFNetwork(lanes=4, max_layers=2, max_neurons=32, max_inputs=24,
                     weight_words=512, group_words=16)
    rtl_check(dut, [(image.network, samples[:3])], seed=1)
    # planted fault: one output row of the graph negated -> the agreement check fails
    g = nir.read(str(snn_graph["path"]))
    g.nodes["2"].weight[int(np.bincount(y).argmax())] *= -1.0
    nir.write(str(tmp_path / "bad.nir"), g)
    quiet(import_graph, tmp_path / "bad.nir", tmp_path / "bad", calib=base["run"])
    bad = ref_network(samples, RunDir(tmp_path / "bad").image().network).cls
    assert float((bad == snn_cls).mean()) < 0.9 * agreement


def test_dynalign_to_snntorch(base, tmp_path):
    export_run(base["run"], tmp_path / "z.nir")
    net = quiet(import_from_nir, nir.read(str(tmp_path / "z.nir")))
    leaky = [m for m in net.modules() if isinstance(m, snn.Leaky)]
    assert [m.reset_mechanism for m in leaky] == ["zero", "zero"]
    counts, mem = snn_run(net, base["x"]["test"])
    y = base["y"]["test"]
    snn_acc = float((lexicographic(counts, mem) == y).mean())
    ours = evaluate_run(base["run"])["float_accuracy"]
    assert abs(snn_acc - ours) <= 0.005
    # planted fault: the layer-2 weights of the class the run gets right most often
    # zeroed in the graph -> snnTorch's accuracy leaves the 0.5-point band
    g = nir.read(str(tmp_path / "z.nir"))
    cls = lexicographic(counts, mem)
    best = int(np.argmax([np.sum((cls == y) & (y == c)) for c in range(10)]))
    g.nodes["affine2"].weight[best] = 0.0
    g.nodes["affine2"].bias[best] = -1.0
    bad = quiet(import_from_nir, g)
    b_counts, b_mem = snn_run(bad, base["x"]["test"])
    assert abs(float((lexicographic(b_counts, b_mem) == y).mean()) - ours) > 0.005


def test_eval_neurobench(base, capsys):
    code = cli.main(["eval", str(base["run"]), "--neurobench", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0
    nb = res["neurobench"]
    assert nb["accuracy_equals_golden"]
    assert nb["ActivationSparsity"] == pytest.approx(nb["dynalign_activation_sparsity"],
                                                     abs=1e-12)
    ops = nb["SynapticOperations"]
    assert ops["Effective_MACs"] + ops["Effective_ACs"] <= nb["dynalign_synops_per_inference"]
    assert nb["dynalign_synops_per_inference"] <= ops["Dense"]
    image = RunDir(base["run"]).image()
    weights = sum(ly.weight.size + ly.bias.size for ly in image.network.layers)
    assert nb["Footprint"] == 8 * weights                 # float64 torch tensors
    assert nb["device_image_bytes"] == len(image.payload())
