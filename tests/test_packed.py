"""Layers of 4-bit weights, two to a byte of the model store (image version 4): the
layout written out by hand, the golden model's range, the refusals in the user's
terms.  The gateware reading them is checked in ``tests/test_core_blocks.py`` and
``tests/test_top.py``."""

import dataclasses

import numpy as np
import pytest

from dynalign.hw.formats import WEIGHT4, weight_format
from dynalign.hw.lif.ref import LIFLayerParams, random_network, random_samples, ref_network
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.wire import (
    HEADER_AT,
    Err,
    ImageHeader,
    Limits,
    build_image,
    layer_block,
    parse_image,
)
from dynalign.sw.fit import fit_problem

ENC = EncoderConfig(delta=2.0, tmax=0.4, dt=0.01, samples=5)


def _nibble(byte, high):
    v = (byte >> 4) if high else byte & 0xF
    return v - 16 if v >= 8 else v


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_packed_layout_by_hand(lanes):
    """Layer 1 packed, layer 2 not: the bytes of layer 1's block read one weight at a
    time as the wire format says (logical word w = g n_in + j, lane k: W[g lanes + k, j],
    store word w >> 1, low nibble for an even w), layer 2's as int8; the block is
    ceil(groups n_in / 2) words (9 x 3 = 27 logical words at 4 lanes: odd); the image
    parses back to the same integers and widths."""
    rng = np.random.default_rng(lanes)
    net = random_network(rng, [9, 10, 3], packed=(0,))
    image = build_image(network=net, encoder=ENC, n_features=3, lanes=lanes)
    dev = parse_image(image)
    assert image[HEADER_AT["packed"]] == 0b01 and dev.header.packed == 1
    at1, end1 = layer_block(144, 9, 10, lanes, True)
    groups = -(-10 // lanes)
    assert end1 - at1 == lanes * -(-(groups * 9) // 2)
    w = net.layers[0].weight
    for g in range(groups):
        for j in range(9):
            word = g * 9 + j
            for k in range(lanes):
                byte = image[at1 + lanes * (word >> 1) + k]
                want = w[g * lanes + k, j] if g * lanes + k < 10 else 0
                assert _nibble(byte, word & 1) == want, (g, j, k)
    at2 = dev.header.weights_at()[1]
    w2 = net.layers[1].weight
    for j in range(10):
        for k in range(lanes):
            byte = image[at2 + lanes * j + k]
            assert (byte - 256 if byte >= 128 else byte) == (w2[k, j] if k < 3 else 0)
    assert [layer.weight_bits for layer in dev.network.layers] == [4, 8]
    for a, b in zip(dev.network.layers, net.layers):
        assert np.array_equal(a.weight, b.weight)
    wide = dataclasses.replace(net, layers=tuple(
        dataclasses.replace(layer, weight_bits=8) for layer in net.layers))
    wide_end = layer_block(144, 9, 10, lanes)[1]         # the same block at 8 bits
    assert len(build_image(network=wide, encoder=ENC, n_features=3, lanes=lanes)) \
        - len(image) == wide_end - end1 == lanes * (groups * 9 - -(-(groups * 9) // 2))


def test_packed_halves_the_weight_bytes():
    """A 4-bit layer's weights take half the bytes (rounded up to a word): 9 x 10 at one
    lane, 90 weights -> 45 bytes."""
    net = random_network(np.random.default_rng(0), [9, 10, 3])
    narrow = dataclasses.replace(net, layers=(
        dataclasses.replace(net.layers[0], weight=np.clip(net.layers[0].weight, -8, 7),
                            weight_bits=4), net.layers[1]))
    a = build_image(network=net, encoder=ENC, n_features=3)
    b = build_image(network=narrow, encoder=ENC, n_features=3)
    assert len(a) - len(b) == 45


def test_the_arithmetic_does_not_depend_on_the_width():
    """The golden model computes with the integers: the same weights marked 4-bit give
    the same results."""
    rng = np.random.default_rng(3)
    net = random_network(rng, [6, 8, 4], packed="all")
    wide = dataclasses.replace(net, layers=tuple(
        dataclasses.replace(layer, weight_bits=8) for layer in net.layers))
    x = random_samples(rng, 5, 4, 6)
    a, b = ref_network(x, net), ref_network(x, wide)
    assert np.array_equal(a.cls, b.cls) and np.array_equal(a.spikes, b.spikes)


def test_refusals():
    with pytest.raises(ValueError, match=r"weight values \[8\] outside weight4 .*\[-8, 7\]"):
        LIFLayerParams(weight=np.array([[8]]), bias=np.array([0]), beta=0, theta=1,
                       weight_bits=4)
    with pytest.raises(ValueError, match="weights are 8 or 4 bits, not 5"):
        weight_format(5)
    with pytest.raises(ValueError, match="packed names layers"):
        random_network(np.random.default_rng(0), [3, 2], packed=(1,))
    net = random_network(np.random.default_rng(0), [9, 4, 3], packed=(1,))
    image = bytearray(build_image(network=net, encoder=ENC, n_features=3))
    image[HEADER_AT["packed"]] |= 0b100                  # a third layer the model lacks
    with pytest.raises(ValueError, match="marks 4-bit weights .* in layers the model "
                                         "does not have"):
        parse_image(bytes(image))
    assert WEIGHT4.min_int == -8 and WEIGHT4.max_int == 7


def test_devices_take_4_bit_layers_only_if_they_say_so():
    """Admission: a device without 4-bit layers answers IMAGE_FORMAT, one with them
    admits the image (and refuses a packed bit past L); the host says it in one line."""
    net = random_network(np.random.default_rng(0), [9, 4, 3], packed=(0, 1))
    header = parse_image(build_image(network=net, encoder=ENC, n_features=3)).header
    plain = Limits(max_features=3, max_samples=5, max_sizes=(4, 3), core=1)
    packed = dataclasses.replace(plain, packed=True)
    assert plain.check_header(header) == Err.IMAGE_FORMAT
    assert packed.check_header(header) is None
    assert packed.check_header(dataclasses.replace(header, packed=0b100)) == Err.IMAGE_FORMAT
    line = fit_problem(header, plain, where="the icebreaker board")
    assert line == ("the model has 4-bit weights (layers 1, 2); the icebreaker board reads "
                    "8-bit weights only: train it with --weight-bits 8")
    assert fit_problem(header, packed) is None
    assert ImageHeader.unpack(header.pack()).packed == header.packed == 0b11


def test_a_bitstream_for_4_bit_models_sizes_its_banks_for_them():
    """limits_for_images (what ``dynalign build --board B RUN`` elaborates): a run with
    4-bit layers gets a core that takes them and banks sized for the images at their
    widths -- half the weight bytes of an 8-bit model of the same sizes; 8-bit runs keep
    the 8-bit banks."""
    from dynalign.constraints.boards import limits_for_images
    rng = np.random.default_rng(0)
    w4 = parse_image(build_image(network=random_network(rng, [9, 16, 3], packed="all"),
                                 encoder=ENC, n_features=3))
    w8 = parse_image(build_image(network=random_network(rng, [9, 16, 3]), encoder=ENC,
                                 n_features=3))
    lim4, lim8 = (limits_for_images([im], lanes=1) for im in (w4, w8))
    assert lim4.packed and not lim8.packed
    assert lim4.bank_bytes == w4.header.model_len() < lim8.bank_bytes == w8.header.model_len()
    assert lim8.bank_bytes - lim4.bank_bytes == (9 * 16 + 16 * 3) // 2
    both = limits_for_images([w4, w8], lanes=1)
    assert both.packed and both.bank_bytes == lim8.bank_bytes
