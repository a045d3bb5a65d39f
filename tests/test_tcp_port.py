"""The virtual board on a loopback TCP port (``dynalign sim-board --tcp``): the relay in
front of a pseudo-terminal (a fake bridge: no simulation), and ``upload`` + ``run`` over
``--port socket://127.0.0.1:PORT`` on the iCEBreaker's Verilated top."""

import json
import os
import threading
import time
import tty

import pytest
from test_virtual_board import TINY, sim_board

from dynalign.constraints.boards import BOARDS, limits_for_images
from dynalign.hw.wire import golden_records, parse_image
from dynalign.sim.tcp_port import TcpPort
from dynalign.sw import cli
from dynalign.sw.driver import PortError, SerialTransport, run_sync
from dynalign.sw.rundir import run_codes

#: Seconds the fake bridge and the relay get to move a few bytes.
WAIT_S = 5.0


class FakeBridge:
    """A pseudo-terminal whose device end answers every byte ``b`` with ``b ^ 0xff``
    (standing in for the cocotb bridge), named in an ``info`` file as the bridge does."""

    def __init__(self, info):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.info = info
        info.write_text(json.dumps({"port": os.ttyname(self.slave), "plugged": True}))
        self._thread = threading.Thread(target=self._echo, daemon=True)
        self._thread.start()

    def _echo(self):
        try:
            while data := os.read(self.master, 4096):
                os.write(self.master, bytes(b ^ 0xFF for b in data))
        except OSError:              # unplugged: both ends closed
            return

    def unplug(self):
        self.info.write_text(json.dumps({"port": None, "plugged": False}))
        os.close(self.master)
        os.close(self.slave)


def _recv(tr, n):
    got, end = b"", time.monotonic() + WAIT_S
    while len(got) < n and time.monotonic() < end:
        got += run_sync(tr.recv())
    return got


def test_relay_one_client_and_unplug(tmp_path):
    bridge = FakeBridge(tmp_path / "port.json")
    relay = TcpPort(info=tmp_path / "port.json", port=0).start()
    try:
        assert relay.url == f"socket://127.0.0.1:{relay.port}" and relay.port > 0
        tr = SerialTransport(relay.url, baud=3_000_000, timeout=0.25)
        run_sync(tr.send(bytes(range(200))))
        assert _recv(tr, 200) == bytes(b ^ 0xFF for b in range(200))   # both ways, whole
        # a second client while one is served: closed at once
        other = SerialTransport(relay.url, timeout=0.25)
        with pytest.raises(PortError, match="went away"):
            _recv(other, 1)
        other.close()
        assert relay.refused == 1
        # the board unplugs its port: the client's connection ends, in one line
        bridge.unplug()
        with pytest.raises(PortError, match="went away"):
            end = time.monotonic() + WAIT_S
            while time.monotonic() < end:
                run_sync(tr.send(b"x"))
                _recv(tr, 1)
        tr.close()
    finally:
        relay.close()


def test_bad_tcp_port_is_one_line(tmp_path, capsys):
    relay = TcpPort(info=tmp_path / "port.json", port=0)     # holds its port
    try:
        with pytest.raises(ValueError, match=f"cannot listen on TCP port {relay.port}"):
            TcpPort(info=tmp_path / "port.json", port=relay.port)
    finally:
        relay.close()
    code = cli.main(["run", "--port", "socket://127.0.0.1:1", "--input", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("dynalign run: error: cannot open serial port "
                                        "'socket://127.0.0.1:1'")
    assert len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def tcp_board(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcp_board")
    run = root / "exp"
    assert cli.main(["train", "--out", str(run), "--mode", "expansive", *TINY]) == 0
    with sim_board(root, run, "--tcp", 0, "--idle-exit", 120, timeout=600) as (_, info):
        yield {"run": run, "info": info}


def test_upload_and_run_over_tcp(tcp_board, capsys):
    info, run = tcp_board["info"], tcp_board["run"]
    url = info["tcp"]
    assert url.startswith("socket://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
    code = cli.main(["upload", "--port", url, str(run), "--json", "--timeout", "10"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["bank"] == 0
    image, codes, _ = run_codes(run)
    row = ",".join(str(int(v)) for v in codes[3])
    code = cli.main(["run", "--port", url, "--input", row, "--json", "--timeout", "10",
                     "--board", "icebreaker", "--baud", "3000000"])
    out = capsys.readouterr()
    assert code == 0, out.err
    got = json.loads(out.out)[0]
    spec = BOARDS["icebreaker"]
    limits = limits_for_images([parse_image(image)], lanes=spec.lanes, table=spec.table)
    exp = golden_records(parse_image(image), codes[3:4], limits=limits)[0]
    assert (got["class"], got["cycles"], got["spikes"], got["out_counts"]) == \
        (exp.cls, exp.cycles, list(exp.spikes), list(exp.out_counts))
    # check, unchanged over the URL: the model served compared record for record
    code = cli.main(["check", "--port", url, str(run), "--no-upload", "--samples", "2",
                     "--json", "--timeout", "10"])
    out = capsys.readouterr()
    assert code == 0, out.err
    rep = json.loads(out.out)
    assert rep["compared"] == 2 and rep["mismatches"] == 0
