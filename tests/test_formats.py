import numpy as np
import pytest

from dynalign.hw import formats as F
from dynalign.hw.formats import QFormat, round_shift


def test_ranges():
    q = QFormat("t", 8, 6)
    assert (q.min_int, q.max_int) == (-128, 127)
    assert q.min_real == -2.0 and q.max_real == 127 / 64
    u = QFormat("u", 9, 8, signed=False)
    assert (u.min_int, u.max_int) == (0, 511)


def test_round_shift_is_half_up_floor_shift():
    a = np.array([5, 6, 7, -5, -6, -7, 8, -8], dtype=np.int64)
    # (a + 2) >> 2: 1.25->1, 1.5->2, 1.75->2, -1.25->-1, -1.5->-1, -1.75->-2, 2, -2
    assert round_shift(a, 2).tolist() == [1, 2, 2, -1, -1, -2, 2, -2]
    assert round_shift(a, 0).tolist() == a.tolist()
    assert round_shift(-6, 2) == -1          # Python ints behave identically
    with pytest.raises(ValueError, match="non-negative"):
        round_shift(a, -1)


def test_saturate_counts_and_never_wraps():
    q = QFormat("t", 8, 0)
    out, n = q.saturate(np.array([-1000, -128, 0, 127, 128, 5000]))
    assert out.tolist() == [-128, -128, 0, 127, 127, 127]
    assert n == 3
    assert q.saturate_int(200) == (127, True)
    assert q.saturate_int(-3) == (-3, False)


def test_quantise_raises_out_of_range_and_non_finite():
    q = QFormat("t", 8, 6)
    assert q.quantise([0.3, -0.7]).tolist() == [19, -45]      # floor(x*64 + 0.5)
    with pytest.raises(ValueError, match="outside the range"):
        q.quantise([2.0])
    with pytest.raises(ValueError, match="finite"):
        q.quantise([np.nan])


def test_bad_format_parameters():
    with pytest.raises(TypeError, match="width must be a positive integer, not 0"):
        QFormat("t", 0, 0)
    with pytest.raises(TypeError, match="frac must be a non-negative integer"):
        QFormat("t", 8, -1)
    with pytest.raises(ValueError, match="does not fit numpy int64"):
        QFormat("t", 64, 0)


def test_derived_shifts_and_headroom():
    assert F.OPERAND_SHIFT == F.STATE.frac - F.SAMPLE.frac
    assert F.DERIV_SHIFT == F.COEF.frac + F.SAMPLE.frac - F.DERIV.frac
    assert F.INCREMENT_SHIFT == F.STEP.frac + F.DERIV.frac - F.STATE.frac
    assert min(F.OPERAND_SHIFT, F.DERIV_SHIFT, F.INCREMENT_SHIFT, F.Y0_SHIFT) >= 0
    F.check_int64_headroom()
    d = F.formats_dict()
    assert d["state"]["q"] == "Q20.28" and d["sample"]["width"] == 32
