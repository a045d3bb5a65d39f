"""The real serial path end to end: ``dynalign sim-board`` (the iCEBreaker's Verilated top
behind a pseudo-terminal) driven over pyserial by ``dynalign upload`` / ``check``:
upload, a port that vanishes mid-upload (one line; the device keeps its previous model),
a clean retry, a switch between two models, and a planted fault in the model the device
holds that ``check`` reports."""

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from dynalign.constraints.boards import BOARDS, limits_for_images
from dynalign.hw.wire import (
    Cmd,
    encode_frame,
    golden_records,
    image_for,
    image_requests,
    parse_image,
)
from dynalign.sw import cli
from dynalign.sw.driver import Device, SerialTransport, run_sync
from dynalign.sw.rundir import RunDir, device_image, run_codes

TINY = ["--features", "4", "--layers", "16", "--epochs", "2", "--ann-epochs", "2",
        "--limit", "300", "--no-progress"]
#: Bounds of the whole session (seconds of wall time): the board's first build, how
#: long the board waits without a byte before it stops by itself, how long a cut port
#: stays away.
BUILD_S, IDLE_EXIT_S, REPLUG_S = 600, 120, 1.5
#: UART cycles per bit: the fastest the UART takes (the board's own at 3 Mbaud is 8; the
#: protocol, the records and their cycles do not depend on it), to halve the uploads.
DIVISOR = 4


def upload_bytes(image: bytes, limits) -> int:
    """Bytes ``dynalign upload`` sends for ``image``: IDENTIFY, then the image requests."""
    return len(encode_frame(Cmd.IDENTIFY)) + sum(
        len(encode_frame(cmd, payload))
        for cmd, payload in image_requests(image_for(image, limits),
                                           max_payload=limits.max_payload))


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("virtual_board")
    runs = []
    for mode in ("expansive", "dissipative"):
        out = root / mode
        assert cli.main(["train", "--out", str(out), "--mode", mode, *TINY]) == 0
        runs.append(out)
    spec = BOARDS["icebreaker"]
    images = [device_image(r) for r in runs]
    limits = limits_for_images([parse_image(i) for i in images], lanes=spec.lanes,
                               table=spec.table)
    # the port goes away half way through the second upload
    cut = upload_bytes(images[0], limits) + upload_bytes(images[1], limits) // 2
    link = root / "port"
    with sim_board(root, *runs, "--link", link, "--idle-exit", IDLE_EXIT_S,
                   "--unplug-after", cut, "--replug-after", REPLUG_S) as (proc, info):
        assert info["board"] == "icebreaker" and info["divisor"] == DIVISOR
        yield {"runs": runs, "link": str(link), "proc": proc, "info": info,
               "limits": limits}


@contextlib.contextmanager
def sim_board(root, *args, timeout=BUILD_S):
    """``dynalign sim-board --board icebreaker --divisor DIVISOR ARGS --json`` in a
    process of its own (its log in ``root``) -> ``(process, the --json line)``; stopped
    on the way out."""
    log = open(root / "sim-board.log", "w")           # closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynalign.sw.cli", "sim-board", "--board", "icebreaker",
         "--divisor", str(DIVISOR), *map(str, args), "--json"],
        stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    try:
        yield proc, json.loads(_readline(proc, timeout))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
        log.close()


def _readline(proc, timeout):
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError(f"sim-board printed no port within {timeout} s")
    line = proc.stdout.readline()
    assert line, "sim-board exited before it printed its port"
    return line


def _wait_link(path, timeout=30.0):
    import time
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < end, f"the virtual board's port {path} did not come back"
        time.sleep(0.1)


def limits_of(board):
    return board["limits"]


#: Seconds a request may wait for its reply: the simulation shares the machine.
TIMEOUT = ["--timeout", "10"]


def run_cli(capsys, *argv):
    if argv[0] in ("upload", "check", "run"):
        argv = (*argv, *TIMEOUT)
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_session(board, capsys):
    """Upload, a cut mid-upload, the model that survives, a clean retry, a switch (A and
    B resident in the two store banks, back to A by SELECT)."""
    a, b = board["runs"]
    port = board["link"]
    code, out, err = run_cli(capsys, "upload", "--port", port, a, "--json")
    assert code == 0, err
    assert json.loads(out)["bank"] == 0                 # the first upload: bank 0

    # the cable is pulled half way through B's upload: one line, exit 1
    code, out, err = run_cli(capsys, "upload", "--port", port, b)
    assert code == 1
    assert err.startswith("dynalign upload: error: serial port") and "went away" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

    # plugged in again: the device still serves A, record for record
    _wait_link(port)
    code, out, err = run_cli(capsys, "check", "--port", port, a, "--no-upload",
                             "--samples", "3", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["compared"] == 3 and rep["mismatches"] == 0

    # the retry completes; then A -> B -> A with every record compared
    code, out, err = run_cli(capsys, "upload", "--port", port, b, "--json")
    assert code == 0, err
    code, out, err = run_cli(capsys, "check", "--port", port, a, "--switch", b,
                             "--samples", "4", "--board", "icebreaker", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["mismatches"] == 0 and rep["mode_switches"] == 2
    assert (rep["uploads"], rep["selects"]) == (2, 1)   # back to A: SELECT, no upload
    assert [m["compared"] for m in rep["models"]] == [4 + 4, 4]
    assert rep["device"]["table"] and rep["device"]["lanes"] == 1
    for m in rep["models"]:
        assert m["accuracy"] == m["golden_accuracy"]
        assert m["latency_us"] == pytest.approx(m["cycles_per_inference"] / 24.0)

    # the brief records (CLASSIFY, pipelined) of the gateware against the golden model's
    code, out, err = run_cli(capsys, "check", "--port", port, a, "--no-upload", "--brief",
                             "--samples", "6", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert (rep["compared"], rep["mismatches"], rep["record"]) == (6, 0, "brief")

    # dynalign run, unchanged: A is served again after the switch back
    image, codes, _ = run_codes(a)
    row = ",".join(str(int(v)) for v in codes[7])
    code, out, err = run_cli(capsys, "run", "--port", port, "--input", row, "--json")
    assert code == 0, err
    got = json.loads(out)[0]
    exp = golden_records(parse_image(image), codes[7:8], limits=limits_of(board))[0]
    assert (got["class"], got["cycles"], got["spikes"], got["out_counts"]) == \
        (exp.cls, exp.cycles, list(exp.spikes), list(exp.out_counts))
    code, out, err = run_cli(capsys, "run", "--port", port, "--input", row, "--brief",
                             "--json")
    assert code == 0, err
    assert json.loads(out) == [{"class": exp.cls, "spikes": list(exp.spikes),
                                "cycles": exp.cycles, "flags": exp.flags}]


def _one_bit_away(run, samples: int):
    """RUN's model with one weight bit flipped where the flip changes a record of the
    first ``samples`` test samples (found with the golden model)."""
    image, codes, _ = run_codes(run)
    wimg = RunDir(run).image()
    net = wimg.network
    want = golden_records(parse_image(image), codes[:samples])
    w0 = net.layers[0].weight
    for idx in np.ndindex(w0.shape):
        w = w0.copy()
        w[idx] ^= 1 << 5
        layer = dataclasses.replace(net.layers[0], weight=w)
        bad = dataclasses.replace(wimg, network=dataclasses.replace(
            net, layers=(layer, *net.layers[1:]))).payload()
        if golden_records(parse_image(bad), codes[:samples]) != want:
            return bad, idx
    raise AssertionError("no single weight bit changes the records")


def test_check_reports_a_planted_fault(board, capsys):
    """The device holds RUN's model with one weight bit flipped: ``check --no-upload``
    finds the records that differ and exits 1."""
    a = board["runs"][0]
    bad, idx = _one_bit_away(a, 4)
    tr = SerialTransport(board["link"], timeout=0.25)
    try:
        run_sync(Device(tr, quiet_limit=8).upload(bad))
    finally:
        tr.close()
    code, out, err = run_cli(capsys, "check", "--port", board["link"], a, "--no-upload",
                             "--samples", "4", "--json")
    assert code == 1
    rep = json.loads(out)
    assert rep["mismatches"] >= 1
    assert "on the device" in rep["first_mismatch"]["message"]
    assert "dynalign check: mismatch: A sample" in err
