"""The versioned weight image file (``model.dlw``): one trained model, self-describing.

The *payload* is the device image exactly as the board stores it -- the bytes that
``IMAGE_BEGIN`` / ``IMAGE_DATA`` / ``IMAGE_COMMIT`` upload (layout owned by
:mod:`dynalign.hw.wire`, "Weight image"; built and parsed by :func:`dynalign.hw.wire.build_image`
/ :func:`dynalign.hw.wire.parse_image`).  The file wraps it with what the host needs besides
(formats, the real encoder parameters, the feature transform reference, the readout)
and a CRC-32.  All integers little-endian::

    offset  size  field
    0       8     magic  b"DYNALIGN"
    8       2     version u16 (= IMAGE_FILE_VERSION, 1)
    10      2     reserved u16 (0)
    12      4     meta_len u32       length of the JSON metadata
    16      4     payload_len u32    length of the device image
    20      M     metadata: UTF-8 JSON object (sorted keys) --
                    "topology" [3K, n_1, ..., n_L], "n_features" K, "in_shift",
                    "reset" (each layer's reset mode, "subtract" or "zero"),
                    "formats" (dynalign.hw.formats.formats_dict()),
                    "encoder" (EncoderConfig.describe(): system, its real parameters,
                               tmax, dt, samples T, ...),
                    "transform" {"file": "transform.npz", "sha256": FeatureTransform.digest()},
                    "readout" (the decision rule), "labels", and free "extra"
    20+M    P     payload: the device image, laid out as :mod:`dynalign.hw.wire`
                    specifies it (header, encoder block, layers, and the trajectory
                    table block when the header's flags say so); never restated here
    20+M+P  4     CRC-32 (zlib.crc32, IEEE 802.3) of bytes 0 .. 20+M+P-1

:meth:`WeightImage.from_bytes` rejects, each with a clear :class:`ImageError`: a bad
magic, an unknown version, a size that differs from the header's lengths, a CRC
mismatch, metadata that is not JSON, and a payload that disagrees with the metadata
(topology, in_shift, reset modes, encoder registers).

``$readmemh`` files (:meth:`WeightImage.write_readmemh`), one value per line, hex,
two's complement at the format's width: ``image.hex`` (the payload, one byte per
line -- what a simulation preloads into the model store) and per layer ``l``
``layer{l}_weight.hex`` (WEIGHT, row-major n_out x n_in), ``layer{l}_bias.hex`` (BIAS),
``layer{l}_params.hex`` (beta as BETA, theta as THRESH, then the layer header's flags
u16: bit 0 set for a zero reset).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynalign.hw.formats import BETA, BIAS, THRESH, WEIGHT, formats_dict
from dynalign.hw.lif.ref import RESET_SUBTRACT, LIFLayerParams, LIFNetworkParams
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import EncoderRegisters, build_image, layer_flags, parse_image

__all__ = ["WeightImage", "ImageError", "IMAGE_FILE_MAGIC", "IMAGE_FILE_VERSION",
           "network_from_dict", "network_to_dict", "encoder_from_dict", "READOUT_RULE"]

IMAGE_FILE_MAGIC = b"DYNALIGN"
IMAGE_FILE_VERSION = 1
_HEAD = struct.Struct("<8sHHII")
_CRC = struct.Struct("<I")

READOUT_RULE = ("class = argmax over output neurons of (spike count, final membrane), "
                "compared lexicographically; ties -> lowest index")


class ImageError(ValueError):
    """A weight image file is malformed."""


def network_to_dict(net: LIFNetworkParams) -> dict:
    return {"in_shift": net.in_shift,
            "layers": [{"weight": l.weight, "bias": l.bias, "beta": l.beta, "theta": l.theta,
                        "reset": l.reset, "weight_bits": l.weight_bits} for l in net.layers]}


def network_from_dict(d: dict) -> LIFNetworkParams:
    """``{"in_shift", "layers": [{"weight", "bias", "beta", "theta", "reset",
    "weight_bits"}]}`` -> golden params (a layer without ``"reset"`` subtracts the
    threshold; without ``"weight_bits"`` it has 8-bit weights)."""
    return LIFNetworkParams(in_shift=int(d["in_shift"]), layers=tuple(
        LIFLayerParams(weight=np.asarray(l["weight"], dtype=np.int64),
                       bias=np.asarray(l["bias"], dtype=np.int64),
                       beta=int(l["beta"]), theta=int(l["theta"]),
                       reset=l.get("reset", RESET_SUBTRACT),
                       weight_bits=int(l.get("weight_bits", WEIGHT.width)))
        for l in d["layers"]))


def encoder_from_dict(d: dict) -> EncoderConfig:
    """Inverse of :meth:`EncoderConfig.describe` (derived keys are ignored)."""
    derived = {"system", "tmax", "dt", "samples", "n_steps", "stride", "lyapunov_sum"}
    params = {k: v for k, v in d.items() if k not in derived}
    return EncoderConfig(system=d["system"], tmax=d["tmax"], dt=d["dt"],
                         samples=d["samples"], **params)


def _hex_lines(values, width: int) -> str:
    mask = (1 << width) - 1
    digits = (width + 3) // 4
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in np.asarray(values).ravel())


@dataclass
class WeightImage:
    """A model as the board and the golden model need it."""

    network: LIFNetworkParams
    encoder: EncoderConfig
    n_features: int
    transform_sha256: str = ""
    transform_file: str = "transform.npz"
    labels: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.network, LIFNetworkParams):
            raise TypeError(f"network must be LIFNetworkParams, not "
                            f"{type(self.network).__name__}")
        if not isinstance(self.encoder, EncoderConfig):
            raise TypeError(f"encoder must be an EncoderConfig, not "
                            f"{type(self.encoder).__name__}")
        if not isinstance(self.n_features, int) or self.n_features < 1:
            raise ValueError(f"n_features must be a positive integer, not {self.n_features!r}")
        if self.network.layers[0].n_in != 3 * self.n_features:
            raise ValueError(f"layer 1 has {self.network.layers[0].n_in} inputs, K="
                             f"{self.n_features} features give {3 * self.n_features}")

    @property
    def topology(self) -> list[int]:
        return self.network.topology

    def payload(self) -> bytes:
        """The device image (what the board link uploads)."""
        return build_image(network=self.network, encoder=self.encoder,
                           n_features=self.n_features)

    def metadata(self) -> dict:
        return {"topology": self.topology, "n_features": self.n_features,
                "in_shift": self.network.in_shift,
                "reset": [layer.reset for layer in self.network.layers],
                "formats": formats_dict(),
                "encoder": self.encoder.describe(),
                "transform": {"file": self.transform_file, "sha256": self.transform_sha256},
                "readout": READOUT_RULE, "labels": list(self.labels),
                "extra": self.extra}

    # -- bytes ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = json.dumps(self.metadata(), sort_keys=True).encode()
        payload = self.payload()
        body = _HEAD.pack(IMAGE_FILE_MAGIC, IMAGE_FILE_VERSION, 0, len(meta), len(payload)) \
            + meta + payload
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> WeightImage:
        data = bytes(data)
        if len(data) < _HEAD.size + _CRC.size:
            raise ImageError(f"weight image too short: {len(data)} bytes, the header and "
                             f"CRC alone take {_HEAD.size + _CRC.size}")
        magic, version, _, meta_len, payload_len = _HEAD.unpack(data[:_HEAD.size])
        if magic != IMAGE_FILE_MAGIC:
            raise ImageError(f"bad magic {magic!r}: not a dynalign weight image "
                             f"(expected {IMAGE_FILE_MAGIC!r})")
        if version != IMAGE_FILE_VERSION:
            raise ImageError(f"unsupported weight image version {version} "
                             f"(this dynalign reads version {IMAGE_FILE_VERSION})")
        expected = _HEAD.size + meta_len + payload_len + _CRC.size
        if len(data) != expected:
            raise ImageError(f"weight image size {len(data)} bytes does not match its header "
                             f"({expected} bytes: metadata {meta_len}, payload {payload_len})")
        body, (crc,) = data[:-_CRC.size], _CRC.unpack(data[-_CRC.size:])
        if zlib.crc32(body) != crc:
            raise ImageError(f"weight image CRC-32 mismatch: stored 0x{crc:08x}, "
                             f"computed 0x{zlib.crc32(body):08x} (corrupted file)")
        try:
            meta = json.loads(body[_HEAD.size:_HEAD.size + meta_len].decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImageError(f"weight image metadata is not valid JSON ({exc})") from None
        payload = body[_HEAD.size + meta_len:]
        try:
            dev = parse_image(payload)
            encoder = encoder_from_dict(meta["encoder"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"weight image payload or metadata invalid: {exc}") from None
        if dev.network.topology != meta.get("topology") or \
                dev.network.in_shift != meta.get("in_shift") or \
                dev.header.n_features != meta.get("n_features"):
            raise ImageError(f"weight image payload (topology {dev.network.topology}, "
                             f"in_shift {dev.network.in_shift}) disagrees with its metadata "
                             f"(topology {meta.get('topology')}, in_shift "
                             f"{meta.get('in_shift')})")
        resets = [layer.reset for layer in dev.network.layers]
        if resets != meta.get("reset", [RESET_SUBTRACT] * len(resets)):
            raise ImageError(f"weight image payload (reset modes {resets}) disagrees with "
                             f"its metadata (reset modes {meta.get('reset')})")
        if EncoderRegisters.from_config(encoder) != dev.encoder:
            raise ImageError("weight image encoder registers disagree with the encoder "
                             "parameters in its metadata")
        tr = meta.get("transform", {})
        return cls(network=dev.network, encoder=encoder, n_features=dev.header.n_features,
                   transform_sha256=tr.get("sha256", ""),
                   transform_file=tr.get("file", "transform.npz"),
                   labels=meta.get("labels", []), extra=meta.get("extra", {}))

    def save(self, path) -> Path:
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path

    @classmethod
    def load(cls, path) -> WeightImage:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such weight image: {path}")
        try:
            return cls.from_bytes(path.read_bytes())
        except ImageError as exc:
            raise ImageError(f"{path}: {exc}") from None

    # -- human-readable and simulation views ---------------------------------------------
    def manifest(self) -> dict:
        """The JSON manifest: metadata plus per-layer integer summaries and sizes."""
        payload = self.payload()
        layers = []
        for k, l in enumerate(self.network.layers):
            layers.append({"layer": k + 1, "n_in": l.n_in, "n_out": l.n_out,
                           "beta": l.beta, "beta_real": l.beta * BETA.lsb, "theta": l.theta,
                           "reset": l.reset,
                           "weight_min": int(l.weight.min()), "weight_max": int(l.weight.max()),
                           "weight_nonzero": int(np.count_nonzero(l.weight)),
                           "bias_min": int(l.bias.min()), "bias_max": int(l.bias.max())})
        m = self.metadata()
        m.update({"file_format": {"magic": IMAGE_FILE_MAGIC.decode(),
                                  "version": IMAGE_FILE_VERSION},
                  "payload_bytes": len(payload),
                  "payload_crc32": f"0x{zlib.crc32(payload):08x}",
                  "layers": layers})
        return m

    def write_readmemh(self, out_dir) -> list[Path]:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files = {"image.hex": _hex_lines(np.frombuffer(self.payload(), np.uint8), 8)}
        for k, l in enumerate(self.network.layers, start=1):
            files[f"layer{k}_weight.hex"] = _hex_lines(l.weight, WEIGHT.width)
            files[f"layer{k}_bias.hex"] = _hex_lines(l.bias, BIAS.width)
            files[f"layer{k}_params.hex"] = _hex_lines([l.beta], BETA.width) + \
                _hex_lines([l.theta], THRESH.width) + _hex_lines([layer_flags(l)], 16)
        paths = []
        for name, text in files.items():
            p = out_dir / name
            p.write_text(text)
            paths.append(p)
        return paths
