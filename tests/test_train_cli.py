"""``dynalign train`` / ``dynalign eval`` end to end on tiny networks, and their errors."""

import dataclasses
import json

import numpy as np
import pytest
from cli_run import run

from dynalign.sw import cli
from dynalign.sw.commands import train as train_cmd
from dynalign.sw.data import default_mnist_dir

TINY = ["--features", "4", "--layers", "16", "--epochs", "2", "--ann-epochs", "2",
        "--limit", "300", "--no-progress"]



@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    code = cli.main(["train", "--out", str(out), "--mode", "expansive", *TINY, "--json"])
    assert code == 0
    return out


def test_train_writes_the_run(tiny_run):
    for name in ("model.dlw", "manifest.json", "transform.npz", "metrics.json",
                 "training_curve.png", "float_model.pt", "ann.pt", "run.json",
                 "readmemh/image.hex", "readmemh/layer1_weight.hex"):
        assert (tiny_run / name).is_file(), name
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert m["sizes"] == [12, 16, 10]
    assert m["encoder"]["delta"] == -1.5
    assert m["test"]["torch_golden_agreement"] == 1.0 and m["test"]["torch_golden_exact"]
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["topology"] == [12, 16, 10]
    assert (tiny_run / "training_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_json(capsys, tiny_run):
    code, out, _ = run(capsys, "eval", tiny_run, "--json")
    assert code == 0
    res = json.loads(out)
    for key in ("float_accuracy", "golden_accuracy", "torch_golden_agreement",
                "spikes_per_inference", "synops_per_inference", "per_layer_spikes",
                "ann_accuracy", "test_samples", "delta", "lyapunov_sum"):
        assert key in res, key
    assert res["torch_golden_agreement"] == 1.0
    assert res["test_samples"] == 60
    assert res["delta"] == -1.5 and res["lyapunov_sum"] == 3.0
    assert len(res["per_layer_spikes"]) == 2
    assert res["spikes_per_inference"] == pytest.approx(sum(res["per_layer_spikes"]))
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert res == m["test"]            # evaluation from the files = evaluation at train time


def test_eval_text(capsys, tiny_run):
    code, out, _ = run(capsys, "eval", tiny_run)
    assert code == 0 and "golden_accuracy" in out and "torch_golden_agreement" in out


def test_eval_lanes_gives_the_cycle_model(capsys, tiny_run):
    """``--lanes`` adds the LIF cycles per inference: the exact cycle model over the
    golden results of the test split, computed here independently."""
    from dynalign.hw.encoder.ref import FixedEncoder
    from dynalign.hw.lif.cycles import ref_cycles
    from dynalign.hw.lif.ref import ref_network
    from dynalign.sw.rundir import RunDir, run_codes
    code, out, _ = run(capsys, "eval", tiny_run, "--lanes", "4", "--json")
    assert code == 0
    res = json.loads(out)
    _, image, _ = RunDir(tiny_run).load()
    _, codes, _ = run_codes(tiny_run)
    golden = ref_network(FixedEncoder(image.encoder).encode(codes)[0], image.network)
    want = float(ref_cycles(golden, image.network, lanes=4).mean())
    assert res["lanes"] == 4 and res["lif_cycles_per_inference"] == want
    code, _, err = run(capsys, "eval", tiny_run, "--lanes", "0")
    assert code == 2 and "lanes must be at least 1" in err


@pytest.mark.parametrize("board, lanes, table, mhz", [("icebreaker", 1, True, 24.0),
                                                       ("ulx3s", 8, False, 50.0)])
def test_eval_board_gives_the_latency_on_its_bitstream(capsys, tiny_run, board, lanes,
                                                       table, mhz):
    """``--board`` adds the latency of one inference on that board: the whole-device cycle
    model (held to the Verilated top in ``tests/test_top.py``) at the board's lanes and
    core, over the board's clock -- computed here from the board's figures as written."""
    from dynalign.hw.core.cycles import ref_device_cycles
    from dynalign.hw.encoder.ref import FixedEncoder
    from dynalign.hw.lif.ref import ref_network
    from dynalign.sw.rundir import RunDir, run_codes
    code, out, _ = run(capsys, "eval", tiny_run, "--board", board, "--json")
    assert code == 0
    res = json.loads(out)
    _, image, _ = RunDir(tiny_run).load()
    _, codes, _ = run_codes(tiny_run)
    golden = ref_network(FixedEncoder(image.encoder).encode(codes)[0], image.network)
    want = ref_device_cycles(golden, n_features=4, lanes=lanes, table=table)
    assert res["board"] == board and res["lanes"] == lanes and res["clock_mhz"] == mhz
    assert res["device_cycles_per_inference"] == float(want.mean())
    assert res["device_cycles_max"] == int(want.max())
    assert res["latency_us"] == float(want.mean()) / mhz
    assert res["device_cycles_per_inference"] > res["lif_cycles_per_inference"]


def test_eval_board_refuses_a_model_the_board_does_not_hold(capsys, tmp_path):
    out = tmp_path / "wide"
    wide = [a if a != "4" else "20" for a in TINY]          # 20 features: 60 inputs
    assert cli.main(["train", "--out", str(out), "--mode", "expansive", *wide,
                     "--no-eval"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "eval", out, "--board", "icebreaker")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "does not fit the icebreaker board" in err and "20 features" in err
    code, _, _ = run(capsys, "eval", out, "--board", "ulx3s", "--json")
    assert code == 0


def test_eval_other_split(capsys, tiny_run):
    code, out, _ = run(capsys, "eval", tiny_run, "--split", "val", "--json")
    assert code == 0 and json.loads(out)["split"] == "val"


def test_eval_missing_run(capsys, tmp_path):
    code, _, err = run(capsys, "eval", tmp_path / "absent")
    assert code == 2 and "run directory not found" in err
    code, _, err = run(capsys, "eval", tmp_path)
    assert code == 2 and "is not a dynalign run" in err


def _copy_run(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_eval_corrupted_image(capsys, tiny_run, tmp_path):
    run_dir = _copy_run(tiny_run, tmp_path / "r")
    data = bytearray((run_dir / "model.dlw").read_bytes())
    data[-20] ^= 0x04
    (run_dir / "model.dlw").write_bytes(bytes(data))
    code, _, err = run(capsys, "eval", run_dir)
    assert code == 2 and "CRC-32 mismatch" in err


def test_eval_wrong_transform(capsys, tiny_run, tmp_path):
    from dynalign.sw.features import FeatureTransform
    run_dir = _copy_run(tiny_run, tmp_path / "r")
    tf = FeatureTransform.load(run_dir / "transform.npz")
    FeatureTransform(mean=tf.mean + 1e-9, std=tf.std, components=tf.components,
                     scale=tf.scale).save(run_dir / "transform.npz")
    code, _, err = run(capsys, "eval", run_dir)
    assert code == 2 and "SHA-256 differs" in err


def test_eval_incompatible_dataset(capsys, tiny_run, tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((40, 5)), y=np.arange(40) % 2)
    code, _, err = run(capsys, "eval", tiny_run, "--dataset", "npz", "--data", p)
    assert code == 2 and "expects 64" in err


@pytest.mark.parametrize("argv, message", [
    (["--layers", "16,x"], "--layers must be comma-separated integers"),
    (["--layers", "0"], "--layers must list positive hidden sizes"),
    (["--mode", "expansive", "--delta", "1"], "give --mode or --delta, not both"),
    (["--dataset", "mnist", "--data-dir", "{tmp}/absent"], "MNIST directory not found"),
    (["--dataset", "npz"], "needs a path"),
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--in-shift", "32"], "in_shift must be an integer in 0..31 or None, not 32"),
    (["--in-shift", "-1"], "in_shift must be an integer in 0..31 or None, not -1"),
    (["--weight-bits", "6"], "--weight-bits must be 8 or 4, or one of them per layer"),
    (["--weight-bits", "4,x"], "--weight-bits must be 8 or 4"),
    (["--layers", "16", "--weight-bits", "4,4,8"],
     "weight_bits gives 3 widths; the network has 2 layers (1 hidden and the output)"),
    (["--board", "icebreaker", "--weight-bits", "4"],
     "the model has 4-bit weights (layers 1, 2); the icebreaker board reads 8-bit weights "
     "only: train it with --weight-bits 8"),
])
def test_train_errors(capsys, tmp_path, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run(capsys, "train", "--out", tmp_path / "r", "--no-progress", *argv)
    assert code == 2 and message in err


def test_cli_defaults_match_train_options():
    from dynalign.sw.train import TrainOptions
    d = TrainOptions()
    for key, value in train_cmd.DEFAULTS.items():
        want = ",".join(map(str, d.layers)) if key == "layers" else getattr(d, key)
        assert value == want, key


def test_api_npz_dataset(tmp_path):
    from dynalign.hw.systems import EncoderConfig
    from dynalign.sw.evaluate import evaluate_run
    from dynalign.sw.train import TrainOptions, train_run
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = rng.normal(size=(120, 10)) + y[:, None]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    opts = TrainOptions(dataset="npz", data_path=str(tmp_path / "d.npz"), features=3,
                        layers=(8,), epochs=3, ann_epochs=3, progress=False)
    m = train_run(tmp_path / "run", encoder=EncoderConfig(delta=2.0), opts=opts)
    assert m["sizes"] == [9, 8, 3]
    res = evaluate_run(tmp_path / "run")
    assert res["torch_golden_agreement"] == 1.0 and res["torch_golden_exact"]
    assert res["test_samples"] == 24
    with pytest.raises(TypeError, match="encoder must be an EncoderConfig"):
        train_run(tmp_path / "x", encoder={}, opts=opts)
    with pytest.raises(ValueError, match="layers must be positive integers"):
        train_run(tmp_path / "x", encoder=EncoderConfig(),
                  opts=dataclasses.replace(opts, layers=(0,)))


def test_fixed_in_shift(tmp_path):
    """``--in-shift`` fixes the layer-1 shift (exported in the image); a coarser input
    has fewer non-zero activations; torch and golden still agree exactly."""
    from dynalign.sw.rundir import RunDir
    shifts, active = [], []
    for s in (None, 9):
        out = tmp_path / f"r{s}"
        argv = ["train", "--out", str(out), "--mode", "dissipative", *TINY, "--json"]
        assert cli.main(argv + ([] if s is None else ["--in-shift", str(s)])) == 0
        m = json.loads((out / "metrics.json").read_text())
        assert m["test"]["torch_golden_agreement"] == 1.0 and m["test"]["torch_golden_exact"]
        _, image, _ = RunDir(out).load()
        shifts.append(image.network.in_shift)
        active.append(m["test"]["per_layer_synops"][0])     # input events x fan-out
    assert shifts[0] < 9 and shifts[1] == 9
    assert active[1] < active[0]


def test_recipes():
    """The defaults and the MNIST recipe are valid option sets that run the whole cosine
    schedule (early stopping only keeps the best epoch)."""
    from dynalign.sw.train import MNIST_RECIPE, TrainOptions
    for recipe in (TrainOptions(), TrainOptions(**MNIST_RECIPE)):
        recipe.validate()
        assert recipe.patience >= recipe.epochs


MNIST = default_mnist_dir()


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"shared MNIST files not present at {MNIST}")
def test_mnist_tiny(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--out", tmp_path / "m", "--dataset", "mnist",
                       "--mode", "dissipative", *TINY, "--json")
    assert code == 0
    res = json.loads(out)["test"]
    assert res["torch_golden_agreement"] == 1.0 and res["test_samples"] == 60
    assert res["topology"] == [12, 16, 10]


def test_train_another_input_system(capsys, tmp_path):
    """``dynalign train --system rossler``: the run's image carries the system and its
    parameters, and the golden model that scores it is the one the image describes."""
    out = tmp_path / "rossler"
    code, _, err = run(capsys, "train", "--out", out, "--system", "rossler", "--c", "5.0",
                       *TINY, "--json")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["encoder"]["system"] == "rossler" and m["encoder"]["c"] == 5.0
    assert m["test"]["torch_golden_agreement"] == 1.0
    from dynalign.sw.rundir import RunDir

    _, image, _ = RunDir(out).load()
    assert image.encoder.system.value == "rossler" and image.encoder.p["c"] == 5.0


def test_sweep_rejects_bad_system_options(capsys, tmp_path):
    code, _, err = run(capsys, "sweep", "--systems", "hopf", "--out", tmp_path / "s")
    assert code != 0 and "unknown system 'hopf'" in err
    code, _, err = run(capsys, "sweep", "--tmax", "0", "--out", tmp_path / "s")
    assert code != 0 and "tmax" in err


# ---- dynalign train --board: the network a board's default bitstream holds ------------

def test_board_networks_are_the_boards_defaults():
    """The sizes the boards' default bitstreams are built for (constraints/boards.py):
    iCEBreaker 48-128-10 at 8 bits, ULX3S 96-512-512-10 with 4-bit hidden layers, T up
    to 5, 10 classes."""
    from dynalign.sw.fit import board_network
    ice, ulx = board_network("icebreaker"), board_network("ulx3s")
    assert (ice.features, ice.layers, ice.samples, ice.classes, ice.weight_bits) == \
        (16, (128,), 5, 10, 8)
    assert (ulx.features, ulx.layers, ulx.samples, ulx.classes, ulx.weight_bits) == \
        (32, (512, 512), 5, 10, (4, 4, 8))
    assert ulx.widths_for(1) == (4, 8) and ulx.widths_for(2) == (4, 4, 8)
    with pytest.raises(ValueError, match="unknown board 'de10'"):
        board_network("de10")


@pytest.mark.parametrize("argv, words", [
    (["--board", "icebreaker", "--features", "20"],
     ["does not fit the icebreaker board", "20 features", "at most 16 features",
      "dynalign train --board icebreaker: 16 features, layers 128"]),
    (["--board", "icebreaker", "--steps", "6", "--tmax", "8"],
     ["6 time steps", "at most 16 features (48 encoder inputs), 5 time steps"]),
    (["--board", "ulx3s", "--layers", "256,256,256"],
     ["layers 256-256-256-10", "dynalign train --board ulx3s: 32 features, layers 512,512, "
      "weights 4,4,8 bits"]),
    (["--board", "ulx3s", "--layers", "600,256"], ["layers 600-256-10"]),
    # the sizes fit, the weights at 8 bits do not fit a bank sized for 4-bit hidden layers
    (["--board", "ulx3s", "--weight-bits", "8"],
     ["layers 512-512-10", "321,728 bytes at its weight widths (8-bit weights)",
      "a model bank of the ulx3s board holds 166,080 bytes", "train it with --weight-bits "
      "4,4,8"]),
    (["--board", "ulx3s", "--layers", "512,512", "--weight-bits", "4,8,8"],
     ["weights 4,8,8 bits", "train it with --weight-bits 4,4,8"]),
])
def test_train_board_refuses_what_the_board_cannot_hold(capsys, tmp_path, argv, words):
    """Refused before any training, in one line with the board's limit and the size that
    fits (no run folder is written)."""
    from cli_run import one_line
    code, _, err = run(capsys, "train", "--out", tmp_path / "r", "--no-progress", *argv)
    line = one_line(err)
    assert code == 2 and all(w in line for w in words), line
    assert not (tmp_path / "r").exists()


def test_train_board_trains_what_the_board_holds(capsys, tmp_path):
    """--board icebreaker alone gives the iCEBreaker's 48-128-10, and its image fits the
    board's default bitstream; one more feature would not."""
    from dynalign.constraints.boards import default_limits
    from dynalign.hw.wire import parse_image
    from dynalign.sw.fit import fit_problem
    from dynalign.sw.rundir import device_image
    out = tmp_path / "ice"
    code, _, err = run(capsys, "train", "--out", out, "--board", "icebreaker", "--epochs", "1",
                       "--ann-epochs", "1", "--limit", "200", "--no-progress", "--no-eval")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["sizes"] == [48, 128, 10] and m["options"]["extra"] == {"board": "icebreaker"}
    header = parse_image(device_image(out)).header
    limits = default_limits("icebreaker")
    assert fit_problem(header, limits) is None
    bigger = dataclasses.replace(header, n_features=17)
    assert "at most 16 features" in fit_problem(bigger, limits, board="icebreaker")


def test_ulx3s_bank_holds_its_network_at_4_bits_and_8_bit_models_of_that_bytes():
    """The ULX3S's default bank is the 96-512-512-10 image at weights 4,4,8 bits: that
    network fits and one more byte of model does not; the 8-bit 96-256-256-10 (its old
    default) still fits; the same sizes at 8 bits do not."""
    from dynalign.constraints.boards import default_limits
    from dynalign.hw.wire import ImageHeader
    from dynalign.sw.fit import fit_problem
    lim = default_limits("ulx3s")
    net = ImageHeader(n_features=32, samples=5, in_shift=0, sizes=(512, 512, 10),
                      total_len=0, lanes=8, packed=0b011)
    assert net.model_len() == lim.bank_bytes == 166_080
    assert fit_problem(net, lim) is None
    assert "166,080 bytes" in fit_problem(dataclasses.replace(net, packed=0), lim)
    old = ImageHeader(n_features=32, samples=5, in_shift=0, sizes=(256, 256, 10),
                      total_len=0, lanes=8)
    assert fit_problem(old, lim) is None
    bigger = dataclasses.replace(net, sizes=(512, 513, 10))
    assert "at most" in fit_problem(bigger, lim)


def test_train_board_ulx3s_trains_its_4_bit_network(capsys, tmp_path):
    """--board ulx3s alone trains 96-512-512-10 with 4-bit hidden layers, and its image
    fits the board's default bitstream (one tiny epoch on 200 digits)."""
    from dynalign.constraints.boards import default_limits
    from dynalign.hw.wire import parse_image
    from dynalign.sw.fit import fit_problem
    from dynalign.sw.rundir import device_image
    out = tmp_path / "ulx"
    code, _, err = run(capsys, "train", "--out", out, "--board", "ulx3s", "--epochs", "1",
                       "--ann-epochs", "1", "--limit", "200", "--no-progress", "--no-eval")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["sizes"] == [96, 512, 512, 10] and m["options"]["weight_bits"] == [4, 4, 8]
    header = parse_image(device_image(out)).header
    assert header.packed == 0b011
    assert fit_problem(header, default_limits("ulx3s")) is None


def test_train_4_bit_weights(capsys, tmp_path):
    """--weight-bits 4,8: layer 1's exported weights lie in -8..7 and its image block is
    packed (the header says so, the golden model reads the same integers back); the
    golden model agrees with the torch integer forward on every test sample; the image
    fits the ulx3s bitstream (it takes 4-bit layers), whose store it needs less of."""
    from dynalign.constraints.boards import default_limits
    from dynalign.hw.wire import parse_image
    from dynalign.sw.fit import fit_problem
    from dynalign.sw.rundir import device_image
    out = tmp_path / "w4"
    code, _, err = run(capsys, "train", "--out", out, *TINY, "--weight-bits", "4,8",
                       "--json")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["options"]["weight_bits"] == [4, 8]
    assert m["test"]["torch_golden_agreement"] == 1.0 and m["test"]["torch_golden_exact"]
    dev = parse_image(device_image(out))
    assert dev.header.packed == 0b01
    w1, w2 = (layer.weight for layer in dev.network.layers)
    assert w1.min() >= -8 and w1.max() <= 7
    assert np.abs(w2).max() > 7                       # the output layer keeps 8 bits
    assert [layer.weight_bits for layer in dev.network.layers] == [4, 8]
    assert fit_problem(dev.header, default_limits("ulx3s")) is None
    wide = dataclasses.replace(dev.header, packed=0)
    assert wide.model_len() - dev.header.model_len() == 12 * 16 // 2


def _bench_front():
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "bench_front", Path(__file__).parents[1] / "bench" / "bench_front.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_front_judges_each_board_by_its_bar():
    bf = _bench_front()
    ice, ulx = bf.TARGETS["icebreaker"], bf.TARGETS["ulx3s"]
    p = {"golden_accuracy": 0.95, "mlp_accuracy": 0.96}
    assert bf.meets(p, ice, 700.0) and not bf.meets(p, ice, 800.0)
    assert not bf.meets({"golden_accuracy": 0.93, "mlp_accuracy": None}, ice, 100.0)
    assert bf.meets({"golden_accuracy": 0.956, "mlp_accuracy": 0.96}, ulx, 199.0)
    assert not bf.meets({"golden_accuracy": 0.956, "mlp_accuracy": 0.962}, ulx, 199.0)
    assert not bf.meets({"golden_accuracy": 0.956, "mlp_accuracy": 0.96}, ulx, 201.0)


def test_bench_front_places_runs_on_the_board(capsys, tiny_run):
    code, out, _ = run(capsys, "eval", tiny_run, "--board", "icebreaker", "--json")
    want = json.loads(out)
    assert _bench_front().main(["--board", "icebreaker", str(tiny_run)]) == 0
    res = json.loads(capsys.readouterr().out)
    (p,) = res["points"]
    assert p["latency_us"] == want["latency_us"] and p["lanes"] == 1
    assert p["golden_accuracy"] == want["golden_accuracy"] and p["pareto"]
    assert res["any_meets_target"] is False          # a 4-feature toy is not Spiker+
