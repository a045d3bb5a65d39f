"""Payload-length rule of each request (the dispatcher of the gateware and the device
model both apply it)."""

from __future__ import annotations

from .frames import Cmd
from .image import DATA_OFFSET_LEN, ENCODER_LEN, IMAGE_HEADER_LEN

__all__ = ["COMMAND_LENGTHS", "payload_length_ok"]

#: Required payload length per command: an int (exact) or ``(min, None)``.
COMMAND_LENGTHS = {
    Cmd.IDENTIFY: 0, Cmd.STATUS: 0, Cmd.RUN: 0, Cmd.RESULTS: 0,
    Cmd.WRITE_ENCODER: ENCODER_LEN, Cmd.IMAGE_BEGIN: IMAGE_HEADER_LEN + 1,
    Cmd.SELECT: 1,
    Cmd.IMAGE_COMMIT: 4, Cmd.IMAGE_DATA: (DATA_OFFSET_LEN + 1, None),
    Cmd.FEATURES: (1, None), Cmd.STREAM: (1, None), Cmd.CLASSIFY: (1, None),
}


def payload_length_ok(cmd: Cmd, n: int) -> bool:
    """Whether ``n`` payload bytes are right for request ``cmd`` (:data:`COMMAND_LENGTHS`)."""
    rule = COMMAND_LENGTHS[cmd]
    if isinstance(rule, int):
        return n == rule
    return n >= rule[0]
