import math

import pytest

from pmp_vvc.codec.vtmlog import ChannelCounters
from pmp_vvc.evaluation.timesaving import (
    enc_t,
    intra_sample_reduction,
    mean_time_saving,
    proxy_fit,
    rd_check_reduction,
    summarize,
    time_saving,
)


def cc(channel: str, intra: int, splits: int) -> ChannelCounters:
    return ChannelCounters(channel, intra, splits, 0, 0, 0, 0)


def test_time_saving_and_means() -> None:
    assert time_saving(100.0, 25.0) == pytest.approx(75.0)
    assert math.isnan(time_saving(0.0, 1.0))
    assert mean_time_saving([100, 200], [50, 50]) == pytest.approx((50 + 75) / 2)
    # EncT is the geometric mean of the ratios: sqrt(0.5 * 0.25)
    assert enc_t([100, 200], [50, 50]) == pytest.approx(math.sqrt(0.125))
    assert math.isnan(enc_t([100, 0], [50, 50]))
    with pytest.raises(ValueError, match="differ"):
        enc_t([1.0], [1.0, 2.0])


def test_rd_check_reduction() -> None:
    anchor = [[cc("luma", 100, 100), cc("chroma", 50, 50)], [cc("luma", 100, 100), cc("chroma", 50, 50)]]
    test = [[cc("luma", 50, 50), cc("chroma", 50, 50)], [cc("luma", 50, 50), cc("chroma", 50, 50)]]
    assert rd_check_reduction(anchor, test, "luma") == pytest.approx(50.0)
    assert rd_check_reduction(anchor, test) == pytest.approx(100 * (1 - 400 / 600))
    assert rd_check_reduction(anchor, [[], []]) is None  # vanilla VTM: no counters


def test_intra_sample_reduction() -> None:
    def searched(intra: int, samples: int | None) -> ChannelCounters:
        return ChannelCounters("luma", intra, 0, 0, 0, 0, 0, intra_samples=samples)

    # the test drops half of the searches, but the large ones: 3/4 of the samples
    anchor = [[searched(4, 4096), cc("chroma", 9, 9)], [searched(4, 4096)]]
    test = [[searched(2, 1024), cc("chroma", 9, 9)], [searched(2, 1024)]]
    assert rd_check_reduction(anchor, test, "luma") == pytest.approx(50.0)
    assert intra_sample_reduction(anchor, test, "luma") == pytest.approx(75.0)
    assert intra_sample_reduction(anchor, test) is None  # the chroma counters have no sample count
    assert intra_sample_reduction(anchor, [[searched(2, None)], [searched(2, 1024)]], "luma") is None
    qps = (22, 37)
    s = summarize(
        {22: 10.0, 37: 4.0},
        {22: 5.0, 37: 3.0},
        dict(zip(qps, anchor, strict=True)),
        dict(zip(qps, test, strict=True)),
    )
    assert s.samples_reduction_luma == pytest.approx(75.0) and s.rdc_reduction_luma == pytest.approx(50.0)
    assert s.samples_reduction_total is None  # the chroma counters have no sample count

    def chroma(samples: int) -> ChannelCounters:
        return ChannelCounters("chroma", 1, 0, 0, 0, 0, 0, intra_samples=samples)

    # with chroma samples, all trees: 1 - (1024 + 1024 + 2048) / (4096 + 4096 + 4096)
    both = summarize(
        {22: 10.0, 37: 4.0},
        {22: 5.0, 37: 3.0},
        {22: [searched(4, 4096), chroma(4096)], 37: [searched(4, 4096)]},
        {22: [searched(2, 1024), chroma(2048)], 37: [searched(2, 1024)]},
    )
    assert both.samples_reduction_total == pytest.approx(100 * (1 - 4096 / 12288))
    assert both.samples_reduction_luma == pytest.approx(75.0)


def test_proxy_fit() -> None:
    # a counter on a line with the time explains all of it, whatever the line's slope and offset
    assert proxy_fit([0.2, 0.4, 0.6], [0.1, 0.2, 0.3]) == pytest.approx(1.0)
    assert proxy_fit([0.6, 0.4, 0.2], [0.1, 0.2, 0.3]) == pytest.approx(1.0)
    # time (1, 2, 3, 4) against (1, 3, 2, 4): correlation 0.8
    assert proxy_fit([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.64)
    assert proxy_fit([1.0, 2.0, 1.0, 2.0], [1.0, 1.0, 2.0, 2.0]) == pytest.approx(0.0)
    assert math.isnan(proxy_fit([0.5, 0.6], [0.1, 0.2]))  # below 3 pairs
    assert math.isnan(proxy_fit([0.5, 0.6, 0.7], [0.3, 0.3, 0.3]))  # a flat counter explains nothing
    with pytest.raises(ValueError, match="differ"):
        proxy_fit([0.5, 0.6, 0.7], [0.1, 0.2])


def test_summarize() -> None:
    s = summarize({22: 10.0, 37: 4.0}, {22: 5.0, 37: 3.0, 27: 1.0})
    assert s.ts_per_qp == {22: pytest.approx(50.0), 37: pytest.approx(25.0)}
    assert s.mean_ts == pytest.approx(37.5)
    assert s.enc_t == pytest.approx(math.sqrt(0.5 * 0.75))
    assert s.rdc_reduction_luma is None
    assert (s.t_anchor, s.t_test) == (14.0, 8.0)
