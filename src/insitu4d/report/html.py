"""The HTML report of a 4D run: one self-contained file (figures embedded) a colleague can open anywhere.

It only lays out what the pipeline already wrote (``experiment.json``, the pair time
series, the figures); it computes nothing.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from ..io.writers import atomic_path

__all__ = ["write_report"]

#: Pair quantities shown as value ± error bar: (header, value key, error key, format).
_PAIR_TABLE = (("r_n (nm)", "r_n_nm", "r_n_err_nm", "{:.1f}"), ("d (nm)", "d_nm", "d_err_nm", "{:.1f}"),
               ("r_p (nm)", "r_p_nm", "r_p_err_nm", "{:.1f}"),
               ("r_n/r_p", "r_n_over_r_p", "r_n_over_r_p_err", "{:.3f}"),
               ("d/2r_p", "d_over_2r_p", "d_over_2r_p_err", "{:.3f}"), ("H/W a", "hw_a", "hw_a_err", "{:.2f}"),
               ("H/W b", "hw_b", "hw_b_err", "{:.2f}"))

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%}h2{border-bottom:1px solid #ddd}
.note{color:#555;font-size:90%}"""


def _e(value) -> str:
    return html.escape(str(value))


def _num(value, fmt: str = "{:.4g}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value) if isinstance(value, (int, float)) else _e(value)


def _pm(row: dict, key: str, err_key: str, fmt: str) -> str:
    value, err = row.get(key), row.get(err_key)
    text = _num(value, fmt)
    if isinstance(err, float) and math.isfinite(err):
        text += " ± " + fmt.format(err)
    return text


def _interval(fit: dict, key: str, name: str, fmt: str) -> str:
    """A fit's interval as [lo, hi], or "not constrained" (with the interval) when it reaches the search range."""
    lo, hi = fit[key]
    text = "[{}, {}]".format(_num(lo, fmt), _num(hi, fmt))
    return f"<b>not constrained</b> {text}" if name in (fit.get("unconstrained") or ()) else text


def _table(header: list[str], rows: list[list[str]], left: int = 0) -> str:
    """An HTML table; the first ``left`` columns left-aligned. Cells are already escaped."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(path: Path, caption: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}"><figcaption class="note">' \
           f"{_e(caption)}</figcaption></figure>"


def _quality(summary: dict) -> str:
    """The quality flags of the time points, with what to do (or that there are none)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for t in summary["time_points"]:
        for f in t.get("quality_flags", []):
            seen.setdefault((f["code"], f["advice"]), []).append(t["time_point"])
    if not seen:
        return "<p class=note>Quality checks: no warnings (insitu4d.quality).</p>"
    rows = [[_e(code), _e(", ".join(points)), _e(advice)] for (code, advice), points in seen.items()]
    return "<h2>Warnings</h2>" + _table(["check", "time points", "what to do"], rows, left=3)


def _with_contents(parts: list[str]) -> list[str]:
    """Give every section heading an anchor and put a table of contents after the title and the quality flags."""
    import re

    out, entries = [], []
    for part in parts:
        m = re.match(r"<h2>(.*?)</h2>", part)
        if m:
            anchor = f"s{len(entries) + 1}"
            entries.append(f'<li><a href="#{anchor}">{m.group(1)}</a></li>')
            part = f'<h2 id="{anchor}">{m.group(1)}</h2>' + part[m.end():]
        out.append(part)
    return [*out[:3], f"<nav><b>Contents</b><ol>{''.join(entries)}</ol></nav>", *out[3:]]


def write_report(outdir, summary: dict, pair_rows: list[dict]) -> Path:
    """Write ``outdir/report.html`` for a finished 4D run, atomically.

    Parameters
    ----------
    outdir : str or Path
        The run's folder (figures are read from it).
    summary : dict
        The content of ``experiment.json``.
    pair_rows : list of dict
        The rows of ``pairs_timeseries.csv``.

    Returns
    -------
    Path
    """
    outdir = Path(outdir)
    s = summary
    parts = [f"<h1>{_e(s['experiment']['name'])}</h1>",
             f"<p class=note>insitu4d {_e(s['software']['version'])} · experiment file {_e(s['experiment']['file'])} "
             f"(SHA-256 {_e(s['experiment']['sha256'][:16])}…) · {len(s['time_points'])} time points, "
             f"{s['n_tracks']} particle tracks, {s['n_pairs']} pairs, {len(s['events'])} events</p>"]
    parts.append(_quality(s))
    if (outdir / "particles_3d.png").is_file():
        parts.append("<h2>Particles in 3D</h2>")
        parts.append(_figure(outdir / "particles_3d.png", "Isosurfaces of the segmented particles at the first and "
                             "last time point (volume frame: z along the beam at 0°, y the tilt axis); colours and "
                             "numbers are track ids."))
    parts.append("<h2>Pairs through time</h2>")
    parts.append(_figure(outdir / "pairs_vs_time.png", "Neck radius and centre distance vs time: normalised (top, "
                         "with the fitted neck-growth laws) and in nm (bottom, with the twin's truth where known)."))
    if (outdir / "temperature_vs_time.png").is_file():
        parts.append(_figure(outdir / "temperature_vs_time.png", "Holder temperature at each time point; shaded: "
                             "the isothermal holds the fits use."))
    parts.append(_figure(outdir / "neck_vs_distance.png",
                         "Neck radius vs centre distance over the geometric models (docs/science.md §2 of insitu4d)."))
    unc = s.get("uncertainty") or {}
    if unc.get("file"):
        parts.append(f"<p class=note>Error bars: {_e(unc['method'])}; {unc['repeats']} repeats at time points "
                     f"{_e(', '.join(unc['evaluated_time_points']))} (per-quantity bias and SD in "
                     f"{_e(unc['file'])}).</p>")
    elif unc.get("skipped"):
        parts.append(f"<p class=note>No error bars: {_e(unc['skipped'])}.</p>")
    rows = [[_num(r["time_s"], "{:g}") + ("" if r.get("err_evaluated", True) else " *"),
             _num(r.get("temperature_C"), "{:g}"), _e(r["pair_id"]),
             *[_pm(r, k, ek, f) for _, k, ek, f in _PAIR_TABLE]] for r in pair_rows]
    parts.append(_table(["t (s)", "T (°C)", "pair", *[h for h, *_ in _PAIR_TABLE]], rows))
    if any(not r.get("err_evaluated", True) for r in pair_rows):
        parts.append("<p class=note>* error bars interpolated in time between the evaluated time points.</p>")
    if s.get("neck_growth_fits"):
        parts.append("<h2>Neck growth: (r_n/r_p)<sup>n</sup> = B (t − t₀), t₀ free</h2>")
        fits = [[_e(f["pair_id"]), _num(f.get("temperature_C"), "{:g}"), _e(f["n_points"]),
                 _num(f["n"], "{:.2f}"), _interval(f, "n_ci", "n", "{:.2f}"),
                 _num(f["B_per_s"]), _interval(f, "B_per_s_ci", "B_per_s", "{:.3g}"),
                 _num(f["t0_s"], "{:.1f}"), _interval(f, "t0_s_ci", "t0_s", "{:.1f}"),
                 _num(f["rms"], "{:.4f}"), _e(f.get("verdict", ""))] for f in s["neck_growth_fits"]]
        parts.append(_table(["pair", "T (°C)", "points", "n", "n 95 % CI", "B (1/s)", "B 95 % CI", "t₀ (s)",
                             "t₀ 95 % CI", "rms", "mechanism"], fits))
        parts.append("<p class=note>Intervals: bootstrap 2.5–97.5 percentiles. <b>not constrained</b>: the interval "
                     "reaches the fit's search range, so the data do not bound it. The fitted curves are drawn in the "
                     "first panel of the figure above.</p>")
    excluded = (s.get("kinetics") or {}).get("excluded_points") or []
    if excluded:
        parts.append("<h2>Points the fits left out</h2>")
        parts.append(_table(["pair", "t (s)", "why"],
                            [[_e(x["pair_id"]), _num(x["time_s"], "{:g}"), _e(x["reason"])] for x in excluded],
                            left=3))
    arrhenius = (s.get("kinetics") or {}).get("arrhenius")
    if isinstance(arrhenius, list) and arrhenius:
        parts.append("<h2>Activation energy: ln(B T) = ln A − Q/(k<sub>B</sub>T)</h2>")
        parts.append(_table(["pair", "n (fixed)", "holds (°C)", "Q (eV)", "± (eV)", "Q (kJ/mol)"],
                            [[_e(a["pair_id"]), _num(a["time_exponent"], "{:g}"),
                              _e(", ".join(f"{g['temperature_C']:.0f}" for g in a["segments"])),
                              *([_num(a["arrhenius"]["Q_eV"], "{:.3f}"), _num(a["arrhenius"]["Q_sd_eV"], "{:.3f}"),
                                 _num(a["arrhenius"]["Q_kJ_per_mol"], "{:.1f}")] if a["arrhenius"] else
                                [_e(a.get("reason", "")), "", ""])] for a in arrhenius]))
    if s.get("twin_accuracy"):
        a = s["twin_accuracy"]
        parts.append("<h2>Accuracy against the twin's ground truth</h2>")
        parts.append(_table(["MAE r_n (vox)", "MAE d (vox)", "MAE d, sphere centres (vox)", "pairs found"],
                            [[_num(a["mae_r_n_vox"], "{:.2f}"), _num(a["mae_d_vox"], "{:.2f}"),
                              _num(a["mae_d_centre_vox"], "{:.2f}"), _num(a["found_fraction"], "{:.0%}")]]))
    if (outdir / "composition_vs_time.png").is_file():
        parts.append("<h2>Composition over time</h2>")
        parts.append(_figure(outdir / "composition_vs_time.png", "Each X-ray line's share of a particle's detected "
                             "counts (composition_timeseries.csv), counted on the element maps over the particle's "
                             "footprint; error bars: counting statistics. Fractions of X-rays, not atomic fractions."))
        first_edx = next((t["time_point"] for t in s["time_points"]
                          if (outdir / t["time_point"] / "elements.png").is_file()), None)
        if first_edx is not None:
            parts.append(_figure(outdir / first_edx / "elements.png", f"{first_edx}: element volumes."))
    parts.append("<h2>Identity events</h2>")
    names = [t["time_point"] for t in s["time_points"]]
    parts.append(_table(["time point", "kind", "tracks", "into / from track"],
                        [[_e(names[ev["time_index"]]), _e(ev["kind"]), _e(ev["tracks"]),
                          _e(ev.get("into", ev.get("from", "")))] for ev in s["events"]], left=2)
                 if s["events"] else "<p>None: every particle kept its identity through the series.</p>")
    parts.append("<h2>Time points</h2>")
    parts.append(_table(["time point", "t (s)", "T (°C)", "tilt series", "resumed"],
                        [[_e(t["time_point"]), _num(t["time_s"], "{:g}"), _num(t["temperature_C"], "{:g}"),
                          _e(t["tilt_series"]), _e(t["resumed"])] for t in s["time_points"]], left=1))
    if (outdir / "neck_slices.png").is_file():
        parts.append(_figure(outdir / "neck_slices.png", "Each pair's neck: the same slice (the array plane that "
                             "best holds the line of centres, through the pair's middle at its first time point) at "
                             "the first, middle and last time point; colours and numbers are track ids; one scale "
                             "bar length throughout."))
    first, last = s["time_points"][0]["time_point"], s["time_points"][-1]["time_point"]
    for name in dict.fromkeys((first, last)):
        parts.append(_figure(outdir / name / "orthoslices.png", f"{name}: orthogonal slices with the segmentation."))
    choices = s.get("automatic_choices")
    if choices:
        parts.append("<h2>Chosen from the data</h2>")
        method = (choices.get("method_choice") or {}).get("reason", "")
        weight = choices.get("tv_weight_choice") or {}
        text = f"At {_e(choices['from_time_point'])}: method {_e(choices.get('method', ''))}"
        text += f" ({_e(method)})" if method else ""
        if weight:
            text += (f"; TV weight {_num(weight['tv_weight'], '{:.3g}')} by the {_e(weight['rule'])} (noise "
                     f"{_num(weight['noise_relative'], '{:.3f}')} of the signal, {_e(weight['noise_strategy'])})")
        parts.append(f"<p>{text}; used for every time point.</p>")
    parts.append("<h2>Acquisition and parameters</h2>")
    parts.append(_table(["acquisition", "value"], [[_e(k), _e(v)] for k, v in s["acquisition"].items()], left=2))
    params = {k: v for k, v in s["parameters"].items() if k != "segmentation"}
    params.update({f"segmentation.{k}": v for k, v in (s["parameters"].get("segmentation") or {}).items()})
    parts.append(_table(["parameter", "value"], [[_e(k), _e(v)] for k, v in params.items()], left=2))
    parts = _with_contents(parts)
    doc = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(s['experiment']['name'])}</title>"
           f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    path = outdir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return path
