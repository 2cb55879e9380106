"""Particle identities through time: matching, merges and splits.

Each time point is reconstructed in its own frame (every tilt series is aligned on its
own), so consecutive frames differ by an unknown translation as well as by the particles'
motion. The matcher removes the translation first (a vote among the displacements of the
largest particles, refined by the median displacement of the matched ones) and pairs
particles by minimum total centroid distance (Hungarian method: Kuhn, Naval Res. Logist.
Q. 2, 83 (1955), doi:10.1002/nav.3800020109; ``scipy.optimize.linear_sum_assignment``),
refusing matches farther than ``gate`` × the particle radius. Unmatched particles are
explained by volume bookkeeping before they are called new or lost: a particle that
vanishes next to one that gains at least half its volume merged into it; a new particle
next to one that lost at least half the new one's volume split from it.

The same code follows the projected particles of a 2D movie
(:class:`~insitu4d.measure.frame_particles.FrameParticle`): positions (y, x), and the
projected area in the place of the volume (each record's ``size``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .particles import Particle

__all__ = ["track_particles", "match_particles"]


def _arrays(particles: list[Particle]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.array([p.centroid_nm for p in particles], dtype=np.float64).reshape(len(particles), -1)
    vol = np.array([p.size for p in particles], dtype=np.float64)
    rad = np.array([p.r_p_nm for p in particles], dtype=np.float64)
    return pos, vol, rad


def _translation(p, pr, c, cr, gate: float, n_largest: int = 12) -> np.ndarray:
    """Frame translation by voting: of the displacements between the largest particles of
    the two frames, the one that brings the most particles within the gate (ties: the
    smallest summed distance). Robust to particles that merge, split, appear or vanish."""
    from scipy.spatial import cKDTree

    tree = cKDTree(c)
    best, best_key = np.zeros(p.shape[1]), (-1, 0.0)
    for i in np.argsort(-pr)[:n_largest]:
        for j in np.argsort(-cr)[:n_largest]:
            shift = c[j] - p[i]
            dist, nearest = tree.query(p + shift)
            ok = dist <= gate * np.maximum(pr, cr[nearest])
            key = (int(ok.sum()), -float(dist[ok].sum()))
            if key > best_key:
                best, best_key = shift, key
    return best


def match_particles(prev: list[Particle], cur: list[Particle], gate: float = 1.0) -> tuple[dict[int, int], np.ndarray]:
    """Match the particles of two frames that may differ by a translation.

    Parameters
    ----------
    prev, cur : list of Particle
        Particles (``centroid_nm``, ``r_p_nm``) of the two frames.
    gate : float
        Largest allowed displacement after the translation, as a fraction of the larger radius.

    Returns
    -------
    pairs : dict
        Index in ``prev`` → index in ``cur``.
    shift_nm : (3,) ndarray
        The translation (z, y, x) from ``prev`` to ``cur``, nm.
    """
    if not prev or not cur:
        return {}, np.zeros(3)
    p, _, pr = _arrays(prev)
    c, _, cr = _arrays(cur)
    shift = _translation(p, pr, c, cr, gate)
    pairs: dict[int, int] = {}
    for _ in range(2):
        cost = np.linalg.norm(c[None, :, :] - (p[:, None, :] + shift), axis=2)
        rows, cols = linear_sum_assignment(cost)
        limit = gate * np.maximum(pr[rows], cr[cols])
        pairs = {int(i): int(j) for i, j, ok in zip(rows, cols, cost[rows, cols] <= limit) if ok}
        if not pairs:
            break
        idx = np.array(list(pairs.items()))
        shift = np.median(c[idx[:, 1]] - p[idx[:, 0]], axis=0)
    return pairs, shift


def track_particles(frames: list[list[Particle]], *, gate: float = 1.0) -> dict:
    """Give every particle of every time point a track id kept through time.

    Parameters
    ----------
    frames : list of list of Particle
        Per time point, the particles of :func:`insitu4d.measure.measure_particles`
        (``label``, ``centroid_nm``, ``size``, ``r_p_nm``), or the projected particles of a
        movie's frames (:func:`insitu4d.measure.frame_particles.measure_frame_particles`).
    gate : float
        Largest allowed displacement, after removing the frame translation, as a fraction
        of the larger particle radius.

    Returns
    -------
    dict
        ``track_of``: list (per time point) of ``{label: track_id}``; ``events``: list of
        ``{"time_index", "kind" ("appear", "vanish", "merge", "split"), "tracks", "into"/"from"}``;
        ``shifts_nm``: per time point, the frame translation from the previous one.
    """
    track_of: list[dict[int, int]] = []
    events: list[dict] = []
    dim = next((len(f[0].centroid_nm) for f in frames if f), 3)
    shifts = [[0.0] * dim]
    next_id = 1
    for t, cur in enumerate(frames):
        ids: dict[int, int] = {}
        if t == 0:
            for p in cur:
                ids[p.label] = next_id
                next_id += 1
            track_of.append(ids)
            continue
        prev = frames[t - 1]
        pairs, shift = match_particles(prev, cur, gate)
        shifts.append(shift.tolist())
        for i, j in pairs.items():
            ids[cur[j].label] = track_of[t - 1][prev[i].label]
        lost = [i for i in range(len(prev)) if i not in pairs]
        gained = [j for j in range(len(cur)) if j not in pairs.values()]
        inverse = {j: i for i, j in pairs.items()}
        for i in lost:
            j = _nearest(prev[i], shift, cur, list(pairs.values()))
            gain = cur[j].size - prev[inverse[j]].size if j is not None else 0.0
            grew = gain >= 0.5 * prev[i].size
            events.append({"time_index": t, "kind": "merge" if grew else "vanish",
                           "tracks": [track_of[t - 1][prev[i].label]],
                           **({"into": ids[cur[j].label]} if grew else {})})
        for j in gained:
            i = _nearest(cur[j], -shift, prev, list(pairs))
            loss = prev[i].size - cur[pairs[i]].size if i is not None else 0.0
            shrank = loss >= 0.5 * cur[j].size
            ids[cur[j].label] = next_id
            events.append({"time_index": t, "kind": "split" if shrank else "appear", "tracks": [next_id],
                           **({"from": track_of[t - 1][prev[i].label]} if shrank else {})})
            next_id += 1
        track_of.append(ids)
    return {"track_of": track_of, "events": events, "shifts_nm": shifts}


def _nearest(particle: Particle, shift, others: list[Particle], candidates: list[int]) -> int | None:
    """Index (among ``candidates``) of the particle nearest ``particle`` moved by ``shift``,
    if it touches it (centre distance at most the sum of the radii)."""
    target = np.asarray(particle.centroid_nm, dtype=np.float64) + shift
    best, best_d = None, np.inf
    for k in candidates:
        d = np.linalg.norm(np.asarray(others[k].centroid_nm) - target)
        if d <= particle.r_p_nm + others[k].r_p_nm and d < best_d:
            best, best_d = k, d
    return best
