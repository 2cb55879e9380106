"""Vendor holder logs (Protochips, DENSsolutions DigiHeater and Impulse) and the clock model.

The real logs are RosettaSciIO's test files (``tests/data/holder_logs``). Oracles: the raw
columns parsed here with the csv module, RosettaSciIO's own DENS reader, and clock
arithmetic done by hand.
"""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter, UnreadableFile
from insitu4d.io.clock import fit_clock_offset, frame_conditions
from insitu4d.io.holder_log import HolderLog, LogChannel, read_holder_log

LOGS = Path(__file__).parent / "data" / "holder_logs"
AMS = ZoneInfo("Europe/Amsterdam")

#: file -> (vendor, start on the log's clock, temperature channel, last time s, first temperature °C)
EXPECTED = {
    "protochips_thermal.csv": ("Protochips", datetime(2014, 12, 3, 17, 15, 37, 192000), "Channel A Temperature",
                               257.649, 25.0),
    "protochips_gas_cell.csv": ("Protochips", datetime(2014, 12, 15, 19, 7, 4, 165000), "Holder Temperature",
                                None, 25.0),
    "file1.dens": ("DENSsolutions Digiheater 3.1", datetime(2015, 4, 16, 13, 53), "Tmeas", 99.66, 15.091),
    "file2.dens": ("DENSsolutions Digiheater 3.2", datetime(2015, 4, 16, 13, 53), "Tmeas", 99.66, 15.091),
    "StubExperiment_Heat raw.csv": ("DENSsolutions Impulse", datetime(2021, 8, 6, 13, 40, 19),
                                    "Temperature Measured", 404.239, 1.05),
    "StubExperiment_Synchronized data.csv": ("DENSsolutions Impulse", datetime(2021, 8, 6, 13, 40, 19),
                                             "Temperature Measured", 403.724, 9.055198),
}


def _column(path: Path, index: int, skip: int, delimiter: str = ",") -> list[str]:
    with open(path, encoding="latin1", newline="") as f:
        return [row[index].strip() for row in list(csv.reader(f, delimiter=delimiter))[skip:] if row]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_vendor_log_loads_with_its_clock_and_temperature(name):
    """Each log: its vendor, the absolute start in the given zone, the temperature channel, the time
    unit (the last time in s, read by hand from the file), and times that increase."""
    vendor, start, channel, last_s, first_C = EXPECTED[name]
    log = read_holder_log(LOGS / name, timezone="Europe/Amsterdam")
    assert log.vendor == vendor
    assert log.start == start.replace(tzinfo=AMS) and log.start.utcoffset() == timedelta(hours=1 if start.month == 12
                                                                                         or start.month < 4 else 2)
    assert log.channel(channel).values[0] == pytest.approx(first_C)
    np.testing.assert_array_equal(log.temperature_C, log.channel(channel).values)  # °C already
    if last_s is not None:
        assert log.time_s[-1] == pytest.approx(last_s, abs=1e-6)
    assert np.all(np.diff(log.time_s) > 0)


def test_protochips_times_are_the_raw_column_in_ms():
    """The Time column, parsed here, over 1000: the uneven steps are kept (RosettaSciIO's axis is a mean step)."""
    path = LOGS / "protochips_thermal.csv"
    raw = np.array(_column(path, 0, 10), dtype=float) / 1000.0
    log = read_holder_log(path)
    np.testing.assert_allclose(log.time_s, raw, rtol=0, atol=1e-12)  # ms × 1e-3 vs ms / 1000: rounding only
    assert np.ptp(np.diff(log.time_s)) > 0.01  # uneven sampling survives
    gas = read_holder_log(LOGS / "protochips_gas_cell.csv")
    assert [c.name for c in gas.channels] == ["Holder Temperature", "Holder Pressure", "Tank1 Pressure",
                                              "Tank2 Pressure", "Vacuum Tank Pressure"]
    assert {c.unit for c in gas.channels[1:]} == {"Torr"}


def test_dens_agrees_with_rosettasciio_and_keeps_set_point_and_power():
    """On the 3.1 file RosettaSciIO reads, the temperature is identical and the times lie on its fitted
    axis within 10 ms (the clock column has 10 ms resolution); the 3.2 file (columns reordered, which
    RosettaSciIO refuses) gives the same channels."""
    from rsciio.dens import file_reader

    ref = file_reader(str(LOGS / "file1.dens"))[0]
    log = read_holder_log(LOGS / "file1.dens")
    np.testing.assert_array_equal(log.temperature_C, ref["data"])
    axis = ref["axes"][0]
    day_s = (log.start - log.start.replace(hour=0, minute=0)).total_seconds()
    np.testing.assert_allclose(log.time_s + day_s, axis["offset"] + axis["scale"] * np.arange(axis["size"]), atol=0.01)
    np.testing.assert_array_equal(log.set_point_C, [23, 23, 23, 50, 50, 50, 50])
    np.testing.assert_array_equal(log.heater_power_mW, np.array(_column(LOGS / "file1.dens", 7, 5, "\t"), dtype=float))
    other = read_holder_log(LOGS / "file2.dens")
    for attr in ("time_s", "temperature_C", "set_point_C", "heater_power_mW"):
        np.testing.assert_array_equal(getattr(other, attr), getattr(log, attr))


def test_impulse_times_are_the_clock_stamps_on_the_experiment_date():
    """Times = TimeStamp − the metadata's start time, computed here by hand; all 13 channels kept."""
    path = LOGS / "StubExperiment_Synchronized data.csv"
    stamps = _column(path, 0, 1)
    start = datetime(2021, 8, 6, 13, 40, 19)
    hand = [(datetime.combine(start.date(), datetime.strptime(s, "%H:%M:%S.%f").time()) - start).total_seconds()
            for s in stamps]
    log = read_holder_log(path, timezone="UTC")
    np.testing.assert_allclose(log.time_s, hand, atol=1e-9)
    assert log.start.tzinfo is not None and len(log.channels) == 13
    assert log.channel("Pin Measured").values[0] == pytest.approx(3.1)


def test_dens_across_midnight(tmp_path):
    """Clock times that pass 00:00 continue on the next day instead of running backwards."""
    body = "".join(f"{i + 1}\t{t}\t300.0\t{299 + i}.5\t1\t1\t1\t1\t1\tnorm\n"
                   for i, t in enumerate(["23:59:59.50", "23:59:59.83", "00:00:00.16", "00:00:00.49"]))
    p = tmp_path / "night.dens"
    p.write_text("\n31/12/'25 23:59\tDigiheater 3.1\nR0 = 1\ta = 0\tb = 0\tc = 1\nTsample = 330 [ms]\n"
                 "sample\ttime\tTset[C]\tTmeas[C]\tRheat[ohm]\tVheat[V]\tIheat[mA]\tPheat [mW]\tc\n" + body)
    log = read_holder_log(p)
    np.testing.assert_allclose(log.time_s, [59.5, 59.83, 60.16, 60.49])
    assert log.start == datetime(2025, 12, 31, 23, 59, tzinfo=timezone.utc)


def _damaged(tmp_path: Path, name: str, line: int, text: str) -> Path:
    lines = (LOGS / name).read_text(encoding="latin1").splitlines()
    lines[line - 1] = text
    out = tmp_path / name
    out.write_text("\n".join(lines) + "\n", encoding="latin1")
    for extra in LOGS.glob("StubExperiment_Metadata.log"):
        shutil.copy(extra, tmp_path / extra.name)
    return out


@pytest.mark.parametrize("name, line, text", [
    ("protochips_thermal.csv", 21, "abc, , 25"),          # a time that is not a number
    ("protochips_thermal.csv", 40, "3049, 25"),           # a field missing
    ("protochips_gas_cell.csv", 300, "74012,,25,x,1,1,1"),
    ("file1.dens", 9, "4\t13:54:38.67\t50.0\t50.117\t289.498"),
    ("file1.dens", 10, "5\t13:5x:39.00\t50.0\t49.927\t289.455\t0.27\t0.96\t0.26\t278.2\tnorm"),
    ("StubExperiment_Heat raw.csv", 100, "13:41:16.5,57.3,hot"),
    ("StubExperiment_Synchronized data.csv", 50, "13:40:51.0,31.9"),
])
def test_a_damaged_log_names_the_line(tmp_path, name, line, text):
    with pytest.raises(UnreadableFile, match=rf"line {line}\b.*Fix or delete that line"):
        read_holder_log(_damaged(tmp_path, name, line, text))


def test_times_that_run_backwards_name_the_line(tmp_path):
    with pytest.raises(UnreadableFile, match=r"line 31: its time does not come after"):
        read_holder_log(_damaged(tmp_path, "protochips_thermal.csv", 31, "1, , 25"))


def test_vendor_logs_that_cannot_be_placed_say_what_is_missing(tmp_path):
    lone = tmp_path / "Run_Heat raw.csv"
    shutil.copy(LOGS / "StubExperiment_Heat raw.csv", lone)
    with pytest.raises(UnreadableFile, match=r"Run_Metadata.log, which is not beside it"):
        read_holder_log(lone)
    with pytest.raises(InvalidParameter, match="unknown time zone 'Mars/Olympus'"):
        read_holder_log(LOGS / "file1.dens", timezone="Mars/Olympus")
    bad = tmp_path / "x.dens"
    bad.write_text("hello\nworld\n")
    with pytest.raises(UnreadableFile, match="first line should be the date and version"):
        read_holder_log(bad)
    gas = read_holder_log(LOGS / "protochips_gas_cell.csv")
    with pytest.raises(InvalidParameter, match="no channel 'Bias'.*Holder Pressure"):
        gas.channel("Bias")


def test_a_plain_table_names_its_damaged_line(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("time_s,temperature_C\n0,300\n1,hot\n")
    with pytest.raises(UnreadableFile, match=r"line 3: temperature 'hot' is not a number"):
        read_holder_log(p)
    p.write_text("time_s,temperature_C\n0,300\n1,301,7\n")
    with pytest.raises(UnreadableFile, match=r"line 3: 3 fields where the header has 2"):
        read_holder_log(p)


# ------------------------------------------------------------------------------------------ the clock model
KNOTS_S = np.array([0, 100, 110, 250, 260, 400, 410, 700.0])
KNOTS_C = np.array([25, 25, 300, 300, 350, 350, 400, 400.0])


def _ramp_log(dt_s=0.5, seed=0) -> HolderLog:
    """A log sampled unevenly (dt ± 30 %) from 0 to 600 s: 25 °C, ramps to 300, 350, 400 °C at 100, 250, 400 s."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(np.r_[0.0, dt_s * rng.uniform(0.7, 1.3, int(600 / dt_s))])
    t = np.union1d(t[t < 599], KNOTS_S[KNOTS_S < 600])  # the corners are samples: interpolation is then exact
    T = np.interp(t, KNOTS_S, KNOTS_C)
    power = 0.1 * T
    channels = (LogChannel("Tmeas", T, "C"), LogChannel("Pheat", power, "mW"))
    return HolderLog(t, T, "ramp", datetime(2026, 1, 1, 9, tzinfo=timezone.utc), heater_power_mW=power,
                     channels=channels)


def test_frame_conditions_at_mid_exposure_with_a_stated_offset():
    """Frames every 2 s with 1 s exposure, on a microscope clock 7.5 s behind the log: the temperature is
    the log's at start + 0.5 s + 7.5 s, computed by hand on the piecewise-linear programme (the log's
    samples lie on it, so interpolation is exact up to rounding)."""
    log = _ramp_log()
    offset = 7.5
    starts = [log.start + timedelta(seconds=s) for s in np.arange(20.0, 560.0, 2.0)]
    cond = frame_conditions(log, starts, exposure_s=1.0, clock_offset_s=offset)
    t_log = np.arange(20.0, 560.0, 2.0) + 0.5 + offset
    hand = np.interp(t_log, KNOTS_S, KNOTS_C)
    np.testing.assert_allclose(cond.time_s, t_log)
    np.testing.assert_allclose(cond.temperature_C, hand, atol=1e-9)
    np.testing.assert_allclose(cond.heater_power_mW, 0.1 * hand, atol=1e-9)
    assert cond.set_point_C is None and [c.name for c in cond.channels] == ["Tmeas", "Pheat"]
    without = frame_conditions(log, starts, exposure_s=1.0)
    assert np.max(np.abs(without.temperature_C - hand)) > 100  # the offset matters on a ramp: the test can fail
    with pytest.raises(InvalidParameter, match="outside the holder log ramp"):
        frame_conditions(log, [log.start + timedelta(seconds=650)], exposure_s=1.0)
    with pytest.raises(InvalidParameter, match="need a time zone"):
        frame_conditions(log, [datetime(2026, 1, 1, 9, 1)])


@pytest.mark.parametrize("seed", range(5))
def test_fitted_clock_offset_recovers_a_known_one(seed):
    """A drift-speed-like signal that follows |dT/dt| on the log clock, with noise (sd = 20 % of its peak),
    seen through a random offset in ±20 s: recovered within one frame interval (1 s)."""
    rng = np.random.default_rng(100 + seed)
    log = _ramp_log(seed=seed)
    true = rng.uniform(-20, 20)
    t = np.arange(30.0, 560.0, 1.0)
    rate = np.abs(np.gradient(log.temperature_C, log.time_s))
    signal = np.interp(t + true, log.time_s, rate)
    signal = signal + rng.normal(0, 0.2 * signal.max(), t.size)
    assert fit_clock_offset(log, t, signal, max_offset_s=25.0) == pytest.approx(true, abs=1.0)


def test_fitted_clock_offset_refuses_what_it_cannot_fit():
    log = _ramp_log()
    t = np.arange(30.0, 100.0, 1.0)
    with pytest.raises(InvalidParameter, match="frame signal is flat"):
        fit_clock_offset(log, t, np.ones_like(t), max_offset_s=10.0)
    with pytest.raises(InvalidParameter, match="reach outside the holder log"):
        fit_clock_offset(log, t, t, max_offset_s=50.0)


def test_an_electrical_biasing_log_keeps_its_channels(tmp_path):
    """A Protochips log of a biasing holder (no temperature): its current and voltage channels with their units;
    asking it for a temperature says what it has."""
    notes = ["Date (yyyy.mm.dd) = 2020.01.02", "Time (hh:mm:ss.ms) = 09:00:00.000", "Time units = Milliseconds",
             "Current units = Amps", "Voltage units = Volts", "User agreeing to terms = me"]
    lines = ["Time, Notes, Channel A Current, Channel A Voltage"]
    lines += [f"0, {note}, 0, 0" for note in notes]
    lines += [f"{100 * k}, , {1e-6 * k}, {0.1 * k}" for k in range(1, 21)]
    path = tmp_path / "bias.csv"
    path.write_text("\n".join(lines) + "\n")
    log = read_holder_log(path)
    assert log.vendor == "Protochips" and log.temperature_C is None
    assert [(c.name, c.unit) for c in log.channels] == [("Channel A Current", "Amps"), ("Channel A Voltage", "Volts")]
    np.testing.assert_allclose(log.channel("Channel A Voltage").values, 0.1 * np.arange(1, 21))
    np.testing.assert_allclose(log.time_s, 0.1 * np.arange(1, 21))
    with pytest.raises(InvalidParameter, match="records no temperature.*Channel A Current"):
        log.temperature_at(1.0)
