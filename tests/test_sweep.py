"""A small sweep end to end: two deltas, one seed, a tiny network, every output."""

import json

import pytest

from dynalign.sw import cli
from dynalign.sw.sweep import SweepOptions, make_settings, run_setting


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    code = cli.main(["sweep", "--deltas=-1.5,2", "--seeds", "1", "--limit", "240",
                     "--layers", "12", "--features", "4", "--epochs", "2", "--patience",
                     "2", "--baselines", "rate", "--no-lorenz", "--workers", "1",
                     "--out", str(out), "--json"])
    assert code == 0
    return out


def test_sweep_outputs(sweep_dir, capsys):
    summ = json.loads((sweep_dir / "sweep.json").read_text())
    assert summ["settings"] == 3
    kinds = [(r["kind"], r["delta"]) for r in summ["table"]]
    assert kinds == [("mixed", -1.5), ("mixed", 2.0), ("rate", None)]
    for r in summ["table"]:
        assert 0.0 <= r["golden_accuracy"] <= 1.0
        assert r["spikes_per_inference"] >= 0 and r["cycles_per_inference"] > 0
        assert r["energy_pj_per_inference"] > 0
    mixed = {r["delta"]: r for r in summ["table"] if r["kind"] == "mixed"}
    assert mixed[-1.5]["lyapunov_sum"] == 3.0 and mixed[2.0]["lyapunov_sum"] == -4.0
    for res in summ["results"]:
        if res["setting"]["kind"] == "mixed":
            assert res["torch_golden_agreement"] == 1.0
    assert set(summ["headline"]) >= {"spike_ratio_expansive_over_dissipative"}
    for name in ("landscape", "trajectories", "raster"):
        png = sweep_dir / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
    assert "| mixed | -1.5 |" in (sweep_dir / "table.md").read_text()


def test_sweep_is_resumable(sweep_dir):
    s = make_settings([2.0], 1, lorenz=False, baselines=())[0]
    path = sweep_dir / "settings" / s.key / "result.json"
    before = path.stat().st_mtime_ns
    opts = SweepOptions(features=4, layers=(12,), epochs=2, patience=2, limit=240)
    again = run_setting(s, opts, sweep_dir)
    assert path.stat().st_mtime_ns == before            # reused, not retrained
    assert again["setting"]["delta"] == 2.0


def test_results_page(sweep_dir, tmp_path):
    from dynalign.sw.results import write_results_page
    page = tmp_path / "docs" / "results.md"
    text = write_results_page([("digits", sweep_dir, "dynalign sweep ..."),
                               ("MNIST", tmp_path / "none", "dynalign sweep --dataset mnist")],
                              page, verdict="A verdict.")
    assert "| mixed | -1.5 |" in text and "(not run:" in text
    assert "](img/digits-landscape.png)" in text
    assert (page.parent / "img" / "digits-landscape.png").is_file()
    assert "**digits:** spikes per inference go from" in text and "A verdict." in text


def test_results_page_keeps_absent_sections(sweep_dir, tmp_path):
    """``keep_absent``: a section whose sweep folder is not on this machine keeps its text
    and its verdict line from the page, and the side-by-side table stays as it was; one
    absent from both is left out; without the option, an absent folder says "not
    run"."""
    from dynalign.sw.results import write_results_page
    page = tmp_path / "docs" / "results.md"
    first = write_results_page([("digits", sweep_dir, "cmd A")], page, verdict="V.")
    block = first[first.index("## digits\n"):]
    verdict = first[first.index("**digits:**"):].split("\n\n")[0]
    sections = [("digits", tmp_path / "gone", "cmd A"),
                ("new", sweep_dir, "cmd B"), ("MNIST", tmp_path / "none", "cmd C")]
    side = first[first.index("## Side by side"):first.index("## digits\n")]
    text = write_results_page(sections, page, verdict="V.", keep_absent=True)
    assert block.rstrip() in text and verdict in text
    # the side-by-side table needs every folder: kept as it was while one is absent
    assert text.count("## Side by side") == 1 and side.rstrip() in text
    assert "## new" in text and "**new:** spikes per inference" in text
    assert "## MNIST" not in text and "not run" not in text
    assert text.index("**digits:**") < text.index("**new:**") < text.index("V.")
    assert text.index("## digits") < text.index("## new")
    again = write_results_page(sections, page, verdict="V.", keep_absent=True)
    assert again == text                                # stable: nothing doubles
    text = write_results_page(sections, page, verdict="V.")
    assert "## digits\n\n(not run: `cmd A`)" in text and "**digits:**" not in text


def test_landscape_verdict_applies_the_criterion():
    from dynalign.sw.results import landscape_verdict

    def summ(spikes, accs):
        rows = [{"kind": "mixed", "delta": d, "spikes_per_inference": s,
                 "golden_accuracy": a} for d, s, a in zip((-1.5, 0.0, 2.0), spikes, accs)]
        e, d = rows[0], rows[-1]
        return {"table": rows, "headline": {
            "spike_ratio_expansive_over_dissipative": e["spikes_per_inference"]
            / d["spikes_per_inference"], "spikes_expansive": e["spikes_per_inference"],
            "spikes_dissipative": d["spikes_per_inference"],
            "accuracy_expansive": e["golden_accuracy"],
            "accuracy_dissipative": d["golden_accuracy"]}}
    yes = landscape_verdict("x", summ((480, 300, 100), (0.94, 0.93, 0.92)))
    assert "**appears**" in yes and "a ratio of 4.80" in yes and "from delta=0 to delta=2" in yes
    fewer = landscape_verdict("x", summ((150, 120, 100), (0.94, 0.93, 0.92)))
    assert "**does not appear**" in fewer
    worse = landscape_verdict("x", summ((480, 300, 100), (0.94, 0.90, 0.80)))
    assert "**does not appear**" in worse
    assert "no verdict" in landscape_verdict("x", {"table": [], "headline": {}})


@pytest.mark.parametrize("kwargs, msg", [
    ({"deltas": [], "seeds": 1}, "at least one delta"),
    ({"deltas": [float("nan")], "seeds": 1}, "finite"),
    ({"deltas": [500.0], "seeds": 1}, "outside the range"),
    ({"deltas": [1.0], "seeds": 0}, "seeds must be a positive integer"),
    ({"deltas": [1.0], "seeds": 1, "baselines": ["morse"]}, "unknown baseline"),
    ({"deltas": [1.0], "seeds": 1, "systems": ["hopf"]}, "unknown system 'hopf'"),
    ({"deltas": [1.0], "seeds": 1, "systems": ["lorenz"]}, "lists the other input systems"),
])
def test_settings_validation(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        make_settings(**kwargs)


def test_settings_with_every_system():
    from dynalign.hw.systems import System
    others = [s.value for s in System if s not in (System.MIXED, System.LORENZ)]
    settings = make_settings([1.0], 2, baselines=(), systems=others)
    kinds = [s.kind for s in settings]
    assert kinds == ["mixed"] * 2 + ["lorenz"] * 2 + [k for k in others for _ in range(2)]
    assert {s.encoder().system.value for s in settings} == {s.value for s in System}


def test_systems_table_beside_the_paper():
    from dynalign.sw.results import systems_table
    row = {"delta": None, "lyapunov_sum": None, "golden_accuracy": 0.9, "seeds": 1,
           "golden_accuracy_std": 0.0, "spikes_per_inference": 10.0,
           "synops_per_inference": 100.0, "cycles_per_inference": 1000.0}
    table = [{**row, "kind": "mixed", "delta": -1.5, "lyapunov_sum": 3.0},
             {**row, "kind": "mixed", "delta": 2.0, "lyapunov_sum": -4.0},
             {**row, "kind": "chua"}, {**row, "kind": "rate"}]
    text = systems_table({"table": table, "options": {"steps": 5, "tmax": 8.0}})
    assert "| mixed (delta=-1.5) | +3.00 |" in text and "delta=2" not in text
    assert "| chua | - | 0.900 ± 0.000 |" in text and "0.9435 | (8, 5) |" in text
    assert "| rate |" not in text
    assert systems_table({"table": table[:2], "options": {"steps": 5}}) == ""


def test_options_validation():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        SweepOptions(epochs=0).validate()
    with pytest.raises(ValueError, match="must be positive"):
        SweepOptions(tmax=0.0).validate()
    SweepOptions(tmax=8.005, steps=20).validate()       # the grid step always fits
    with pytest.raises(ValueError, match="in_shift_percentile"):
        SweepOptions(in_shift_percentile=0).validate()


def test_resumed_sweep_says_so(sweep_dir):
    """A second run reuses every setting and the page says its wall time is not the
    compute time."""
    from dynalign.sw.results import write_results_page
    code = cli.main(["sweep", "--deltas=-1.5,2", "--seeds", "1", "--limit", "240",
                     "--layers", "12", "--features", "4", "--epochs", "2", "--patience",
                     "2", "--baselines", "rate", "--no-lorenz", "--workers", "1",
                     "--out", str(sweep_dir), "--json"])
    assert code == 0
    summ = json.loads((sweep_dir / "sweep.json").read_text())
    assert summ["reused"] == summ["settings"] == 3
    text = write_results_page([("digits", sweep_dir, "cmd")], sweep_dir / "page" / "r.md")
    assert "reused 3 of 3 finished settings" in text


def _mixed(delta, acc, spikes, synops=1000.0, cycles=500.0):
    return {"kind": "mixed", "delta": delta, "golden_accuracy": acc,
            "spikes_per_inference": spikes, "synops_per_inference": synops,
            "cycles_per_inference": cycles}


def test_side_by_side_applies_the_criterion_per_column():
    """One row per delta of every column, the paper's reported numbers beside them, and
    the criterion per column: a hardware column with 4.5x fewer spikes at delta=2 and 1
    point lost appears, one with more spikes at delta=2 does not, a paper-protocol
    column is read from its test accuracy, and a column without delta=2 has no verdict."""
    from dynalign.sw.results import side_by_side
    yes = {"table": [_mixed(-1.5, 0.90, 450.0), _mixed(2.0, 0.89, 100.0, cycles=321.0)]}
    no = {"table": [_mixed(-1.5, 0.86, 43.5), _mixed(0.0, 0.89, 99.5), _mixed(2.0, 0.90, 96.2)]}
    paper = {"protocol": "paper", "table": [
        {"delta": -1.5, "test_accuracy": 0.975, "spikes_per_inference": 2618.5,
         "spikes_per_training_epoch": 3181187.0, "synops_per_inference": 865392.0},
        {"delta": 2.0, "test_accuracy": 0.100, "spikes_per_inference": 19.6,
         "spikes_per_training_epoch": 24047.0, "synops_per_inference": 9787.0}]}
    half = {"table": [_mixed(-1.5, 0.9, 10.0), _mixed(10.0, 0.9, 5.0)]}
    text = side_by_side([("A", yes), ("B", no), ("P", paper), ("H", half)])
    lines = text.splitlines()
    assert lines[0] == "| delta | paper (reported, MNIST subset) | A | B | P | H |"
    rows = {line.split(" | ")[0][2:]: line for line in lines[2:]}
    assert set(rows) == {"-1.5", "+0", "+2", "+10", "verdict"}
    assert "| 0.939 / - / - / - | 0.900 / 450.0 / 1,000 / 500 |" in rows["-1.5"]
    assert "0.975 / 2,618.5 (3,181,187) / 865,392 / -" in rows["-1.5"]
    assert "| - | 0.890 / 99.5 / 1,000 / 500 | - | - |" in rows["+0"]
    assert "0.890 / 100.0 / 1,000 / 321" in rows["+2"]
    verdict = rows["verdict"].split(" | ")
    assert verdict[2] == "4.50x, -1.0 points: **appears**"
    assert verdict[3] == "0.45x, +4.0 points: **does not appear**"
    assert verdict[4] == "133.60x, -87.5 points: **does not appear**"
    assert verdict[5].startswith("no verdict")
