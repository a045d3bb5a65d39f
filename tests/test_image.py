"""Weight image file: round trip, device payload, every rejection, readmemh, manifest."""

import json
import struct
import zlib

import numpy as np
import pytest

from dynalign.hw.lif.ref import random_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    LAYER_FLAG_RESET_ZERO,
    LAYER_HEADER,
    LAYERS_OFFSET,
    ImageHeader,
    build_image,
    parse_image,
)
from dynalign.sw.image import (
    IMAGE_FILE_MAGIC,
    ImageError,
    WeightImage,
    encoder_from_dict,
    network_from_dict,
    network_to_dict,
)


def make_image(seed=0, topology=(12, 9, 5), reset="subtract", **enc):
    rng = np.random.default_rng(seed)
    net = random_network(rng, list(topology), in_shift=int(rng.integers(0, 20)), reset=reset)
    return WeightImage(network=net, encoder=EncoderConfig(**(enc or {"delta": -1.5})),
                       n_features=topology[0] // 3, transform_sha256="ab" * 32,
                       labels=list(range(topology[-1])), extra={"note": "test"})


def same_network(a, b):
    assert a.in_shift == b.in_shift and a.topology == b.topology
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert (la.beta, la.theta, la.reset) == (lb.beta, lb.theta, lb.reset)


def recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("seed", range(4))
def test_round_trip(seed):
    img = make_image(seed, topology=(3 * (seed + 2), 7 + seed, 4, 3))
    data = img.to_bytes()
    back = WeightImage.from_bytes(data)
    same_network(back.network, img.network)
    assert back.encoder == img.encoder
    assert back.n_features == img.n_features
    assert back.transform_sha256 == img.transform_sha256
    assert back.labels == img.labels and back.extra == img.extra
    assert back.to_bytes() == data


def test_lorenz_round_trip():
    img = make_image(1, system="lorenz", rho=20.0)
    back = WeightImage.from_bytes(img.to_bytes())
    assert back.encoder == img.encoder
    assert encoder_from_dict(img.encoder.describe()) == img.encoder


def test_payload_is_the_device_image():
    img = make_image(2)
    data = img.to_bytes()
    _, _, _, meta_len, payload_len = struct.unpack("<8sHHII", data[:20])
    payload = data[20 + meta_len:20 + meta_len + payload_len]
    assert payload == build_image(network=img.network, encoder=img.encoder,
                                  n_features=img.n_features)
    same_network(parse_image(payload).network, img.network)


def test_network_dict_round_trip():
    img = make_image(3)
    same_network(network_from_dict(network_to_dict(img.network)), img.network)


def test_bad_magic():
    data = bytearray(make_image().to_bytes())
    data[:8] = b"NOTDYNAL"
    with pytest.raises(ImageError, match="bad magic b'NOTDYNAL'"):
        WeightImage.from_bytes(recrc(bytes(data[:-4])))


def test_bad_version():
    data = bytearray(make_image().to_bytes())
    data[8:10] = struct.pack("<H", 7)
    with pytest.raises(ImageError, match="unsupported weight image version 7"):
        WeightImage.from_bytes(recrc(bytes(data[:-4])))


@pytest.mark.parametrize("cut", [1, 100])
def test_bad_size_truncated(cut):
    data = make_image().to_bytes()
    with pytest.raises(ImageError, match="does not match its header"):
        WeightImage.from_bytes(data[:-cut])


def test_bad_size_extended_and_tiny():
    data = make_image().to_bytes()
    with pytest.raises(ImageError, match="does not match its header"):
        WeightImage.from_bytes(data + b"\x00")
    with pytest.raises(ImageError, match="too short"):
        WeightImage.from_bytes(IMAGE_FILE_MAGIC)


@pytest.mark.parametrize("where", [12, 60, -5])
def test_bad_crc(where):
    data = bytearray(make_image().to_bytes())
    if where == 12:
        where = 21                  # a metadata byte
    data[where] ^= 0x01             # one bit
    with pytest.raises(ImageError, match="CRC-32 mismatch"):
        WeightImage.from_bytes(bytes(data))


def test_crc_field_itself_corrupted():
    data = bytearray(make_image().to_bytes())
    data[-1] ^= 0x80
    with pytest.raises(ImageError, match="CRC-32 mismatch"):
        WeightImage.from_bytes(bytes(data))


def _rebuild(img, meta_edit=None, payload_edit=None):
    data = img.to_bytes()
    _, _, _, meta_len, payload_len = struct.unpack("<8sHHII", data[:20])
    meta = json.loads(data[20:20 + meta_len])
    payload = data[20 + meta_len:20 + meta_len + payload_len]
    if meta_edit:
        meta_edit(meta)
    if payload_edit:
        payload = payload_edit(payload)
    m = json.dumps(meta).encode()
    return recrc(struct.pack("<8sHHII", IMAGE_FILE_MAGIC, 1, 0, len(m), len(payload))
                 + m + payload)


def test_metadata_payload_disagreement():
    img = make_image()
    with pytest.raises(ImageError, match="disagrees with its metadata"):
        WeightImage.from_bytes(_rebuild(img, lambda m: m.update(in_shift=m["in_shift"] + 1)))
    with pytest.raises(ImageError, match="encoder registers disagree"):
        WeightImage.from_bytes(_rebuild(img, lambda m: m["encoder"].update(delta=2.0)))


def test_bad_metadata_and_payload():
    img = make_image()
    data = img.to_bytes()
    _, _, _, meta_len, _ = struct.unpack("<8sHHII", data[:20])
    body = bytearray(data[:-4])
    body[20] = ord("!")
    with pytest.raises(ImageError, match="metadata is not valid JSON"):
        WeightImage.from_bytes(recrc(bytes(body)))
    with pytest.raises(ImageError, match="payload or metadata invalid"):
        WeightImage.from_bytes(_rebuild(img, payload_edit=lambda p: p[:-1]))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such weight image"):
        WeightImage.load(tmp_path / "absent.dlw")
    p = tmp_path / "bad.dlw"
    p.write_bytes(b"\x00" * 40)
    with pytest.raises(ImageError, match="bad.dlw: bad magic"):
        WeightImage.load(p)


def test_constructor_checks():
    img = make_image()
    with pytest.raises(TypeError, match="network must be LIFNetworkParams"):
        WeightImage(network={}, encoder=img.encoder, n_features=4)
    with pytest.raises(TypeError, match="encoder must be an EncoderConfig"):
        WeightImage(network=img.network, encoder={}, n_features=4)
    with pytest.raises(ValueError, match="layer 1 has 12 inputs, K=3 features give 9"):
        WeightImage(network=img.network, encoder=img.encoder, n_features=3)


def test_readmemh(tmp_path):
    img = make_image(5)
    paths = {p.name: p for p in img.write_readmemh(tmp_path)}
    lines = paths["image.hex"].read_text().split()
    assert bytes(int(v, 16) for v in lines) == img.payload()
    for k, layer in enumerate(img.network.layers, start=1):
        w = [int(v, 16) for v in paths[f"layer{k}_weight.hex"].read_text().split()]
        assert all(len(v) == 2 for v in paths[f"layer{k}_weight.hex"].read_text().split())
        signed = [v - 256 if v >= 128 else v for v in w]
        assert signed == layer.weight.ravel().tolist()
        b = [int(v, 16) for v in paths[f"layer{k}_bias.hex"].read_text().split()]
        assert [v - 65536 if v >= 32768 else v for v in b] == layer.bias.tolist()
        beta, theta, flags = (int(v, 16)
                              for v in paths[f"layer{k}_params.hex"].read_text().split())
        assert (beta, theta) == (layer.beta, layer.theta)


def test_manifest_is_json():
    img = make_image(6)
    m = json.loads(json.dumps(img.manifest()))
    assert m["topology"] == img.topology
    assert m["file_format"] == {"magic": "DYNALIGN", "version": 1}
    assert m["payload_bytes"] == len(img.payload())
    assert m["formats"]["weight"]["width"] == 8
    assert m["encoder"]["delta"] == -1.5
    assert m["transform"]["sha256"] == "ab" * 32
    assert [layer["theta"] for layer in m["layers"]] == [l.theta for l in img.network.layers]


def test_reset_mode_in_the_layer_flags():
    """Bit 0 of a layer header's flags u16 (the former reserved field) is the zero reset;
    the layout size is unchanged, an all-subtract image is what it was, unknown bits are
    refused, and the file metadata must agree with the payload."""
    sub = make_image(4, topology=(9, 7, 4, 3))
    mixed = make_image(4, topology=(9, 7, 4, 3), reset=["zero", "subtract", "zero"])
    a, b = sub.payload(), mixed.payload()
    assert len(a) == len(b)
    flags_at = [LAYERS_OFFSET]
    for n_in, n_out in ImageHeader.unpack(a).layer_dims()[:-1]:
        flags_at.append(flags_at[-1] + LAYER_HEADER.size + 2 * n_out + n_in * n_out)
    flags = [struct.unpack_from("<H", b, at + 2)[0] for at in flags_at]
    assert flags == [LAYER_FLAG_RESET_ZERO, 0, LAYER_FLAG_RESET_ZERO]
    assert [struct.unpack_from("<H", a, at + 2)[0] for at in flags_at] == [0, 0, 0]
    assert bytes(a[i] for i in range(len(a)) if i not in {f + 2 for f in flags_at}) == \
        bytes(b[i] for i in range(len(b)) if i not in {f + 2 for f in flags_at})
    back = WeightImage.from_bytes(mixed.to_bytes())
    assert [ly.reset for ly in back.network.layers] == ["zero", "subtract", "zero"]
    assert mixed.metadata()["reset"] == ["zero", "subtract", "zero"]
    assert [m["reset"] for m in mixed.manifest()["layers"]] == ["zero", "subtract", "zero"]
    bad = bytearray(b)
    bad[flags_at[1] + 2] |= 0x02
    with pytest.raises(ValueError, match=r"layer 2 header flags 0x0002: unknown bits"):
        parse_image(bytes(bad))
    assert parse_image(bytes(bad), check_flags=False).network.layers[1].reset == "subtract"
    # metadata that names other modes than the payload holds
    data = bytearray(mixed.to_bytes())
    meta_len = struct.unpack_from("<I", data, 12)[0]
    meta = json.loads(data[20:20 + meta_len])
    meta["reset"] = ["subtract"] * 3
    new = json.dumps(meta, sort_keys=True).encode()
    body = data[:12] + struct.pack("<I", len(new)) + data[16:20] + new + \
        data[20 + meta_len:-4]
    with pytest.raises(ImageError, match="reset modes"):
        WeightImage.from_bytes(recrc(bytes(body)))
