"""Holder temperature logs: reading in their common layouts, and isothermal segments of a heating programme."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter, UnreadableFile
from insitu4d.io.holder_log import isothermal_segments, read_holder_log

#: (start_s, end_s, temperature_C) of the holds of the synthetic programme below
HOLDS = [(60.0, 760.0, 300.0), (780.0, 1480.0, 350.0), (1500.0, 2200.0, 400.0)]


def programme(dt_s=1.0, noise_C=0.5, seed=0):
    """25 °C → ramp → three holds joined by 20 s ramps, sampled every dt_s with Gaussian noise."""
    knots_t = [0.0] + [t for s, e, _ in HOLDS for t in (s, e)]
    knots_T = [25.0] + [T for *_, T in HOLDS for _ in range(2)]
    t = np.arange(0.0, HOLDS[-1][1] + dt_s / 2, dt_s)
    T = np.interp(t, knots_t, knots_T) + np.random.default_rng(seed).normal(0, noise_C, t.size)
    return t, T


def test_segments_of_a_heating_programme(tmp_path):
    """Three holds found, their means within 0.1 °C (noise 0.5 °C / √700 ≈ 0.02 °C, plus the
    samples of the ramp ends within the tolerance), their ends within 5 s (a 2 °C tolerance on a
    2.5 °C/s ramp is about a second, the running mean adds a few)."""
    t, T = programme()
    path = tmp_path / "holder.csv"
    path.write_text("time_s,temperature_C,power_mW\n" + "".join(f"{a:.1f},{b:.3f},1.0\n" for a, b in zip(t, T)))
    log = read_holder_log(path)
    segments = isothermal_segments(log, tolerance_C=2.0, min_duration_s=60.0)
    assert len(segments) == 3
    for seg, (start, end, temp) in zip(segments, HOLDS):
        assert seg["temperature_C"] == pytest.approx(temp, abs=0.1)
        assert seg["start_s"] == pytest.approx(start, abs=5.0) and seg["end_s"] == pytest.approx(end, abs=5.0)
        assert seg["sd_C"] == pytest.approx(0.5, abs=0.1)
    assert log.temperature_at([400.0])[0] == pytest.approx(300.0, abs=2.0)


def test_units_timestamps_and_delimiters(tmp_path):
    """Minutes and kelvin in the header; ISO timestamps; semicolons and tabs; comment lines."""
    a = tmp_path / "a.txt"
    a.write_text("# Impulse export\nTime (min)\tTemperature (K)\n0\t573.15\n0.5\t573.15\n1\t623.15\n")
    log = read_holder_log(a)
    np.testing.assert_allclose(log.time_s, [0, 30, 60])
    np.testing.assert_allclose(log.temperature_C, [300, 300, 350])
    b = tmp_path / "b.csv"
    b.write_text("timestamp;T_C\n2026-01-01T10:00:00;25\n2026-01-01T10:00:10;26\n2026-01-01T10:01:00;27\n")
    log = read_holder_log(b)
    np.testing.assert_allclose(log.time_s, [0, 10, 60])
    np.testing.assert_allclose(log.temperature_C, [25, 26, 27])
    c = tmp_path / "c.csv"
    c.write_text("time_s,temperature_K\n0,573.15\n5,623.15\n")
    np.testing.assert_allclose(read_holder_log(c).temperature_C, [300, 350])


def test_bad_logs_say_what_to_fix(tmp_path):
    with pytest.raises(UnreadableFile, match="does not exist"):
        read_holder_log(tmp_path / "none.csv")
    p = tmp_path / "p.csv"
    p.write_text("power,current\n1,2\n3,4\n")
    with pytest.raises(UnreadableFile, match="needs a time and a temperature column"):
        read_holder_log(p)
    p.write_text("time_s,temperature_C\n0,300\n0,301\n")
    with pytest.raises(UnreadableFile, match="repeats a time"):
        read_holder_log(p)
    p.write_text("time_s,temperature_C\nstart,300\nend,301\n")
    with pytest.raises(UnreadableFile, match="neither numbers nor ISO 8601"):
        read_holder_log(p)
    p.write_text("time_s,temperature_C\n0,300\n10,301\n")
    with pytest.raises(InvalidParameter, match="outside the holder log"):
        read_holder_log(p).temperature_at(20.0)
