"""A cardiac cine MRI *phantom*: synthetic beating ventricles with a known answer. Not patient data.

Each case is a mid-ventricular short-axis cine loop (``frames`` × ``size`` × ``size``, one cardiac
cycle) drawn from a seeded random generator:

- the left ventricle (LV) is an ellipsoid with in-plane semi-axes ``a``, ``b`` and long axis ``c = 1.9 a``
  (mm; the field of view is 110 mm), so its volume is ``V = 4/3·π·a·b·c``. Over the cycle every axis
  is scaled by ``s(t) = (V(t)/EDV)^(1/3)``; ``V`` falls from the end-diastolic volume (EDV) to the
  end-systolic volume ``ESV = EDV·(1 − EF)`` at 35 % of the cycle (cosine ease) and refills after, so the
  ejection fraction is known exactly; the slice shows the blood pool as a bright ellipse;
- the myocardium is a ring around it whose cross-sectional area is conserved, so walls thicken in
  systole; a right-ventricular crescent sits beside it; an optional pericardial effusion is a bright rim;
- diagnoses change shape and motion: *normal* (a 23–27 mm, wall 7–9 mm, EF 50–72 %), *dilated
  cardiomyopathy* (a 31–36 mm, thin wall 5–7 mm, EF 15–45 %), *hypertrophic cardiomyopathy* (a 18–22 mm,
  wall 13–17 mm, EF 50–80 %, slow early filling); pericardial effusion in 25 % of cases, independent;
- pose (rotation, ±2 px shift), eccentricity, tissue contrast and Rician-like noise vary per case;
- the report is built from the same numbers: size, wall thickness, systolic function category and LVEF,
  effusion, impression; sentence templates vary by case.

Targets: ``lvef`` (%), ``edv`` and ``esv`` (mL). Labels (multi-label): the diagnosis (exactly one of
three; the ``exclusive`` group) and ``pericardial effusion``.
"""

from __future__ import annotations

import math

import numpy as np

from bench.foundation.sequences import SequenceSet

DIAGNOSES = ("normal", "dilated cardiomyopathy", "hypertrophic cardiomyopathy")
LABELS = (*DIAGNOSES, "pericardial effusion")
ZERO_SHOT_PROMPTS = ("Impression: normal heart.", "Impression: dilated cardiomyopathy.",
                     "Impression: hypertrophic cardiomyopathy.", "A pericardial effusion is present.")
FOV_MM = 110.0
ES_PHASE = 0.35
_RANGES = {  # a (mm), wall (mm), EF (%)
    "normal": ((23, 27), (7, 9), (50, 72)),
    "dilated cardiomyopathy": ((31, 36), (5, 7), (15, 45)),
    "hypertrophic cardiomyopathy": ((18, 22), (13, 17), (50, 80)),
}


def volume_curve(frames: int, edv: float, esv: float, slow_filling: bool = False) -> np.ndarray:
    """LV volume at each frame of one cycle: EDV at t = 0, ESV at 35 % of the cycle (exactly, when a
    frame falls there), cosine ease in and out; ``slow_filling`` delays early diastolic refilling."""
    phase = np.arange(frames) / frames
    g = np.where(phase <= ES_PHASE, 0.5 * (1 - np.cos(np.pi * phase / ES_PHASE)),
                 0.5 * (1 + np.cos(np.pi * (phase - ES_PHASE) / (1 - ES_PHASE))))
    if slow_filling:
        g = np.where(phase > ES_PHASE, g ** 0.5, g)
    return edv - (edv - esv) * g


def _function_word(ef: float) -> str:
    if ef < 30:
        return "severely reduced"
    if ef < 40:
        return "moderately reduced"
    if ef < 50:
        return "mildly reduced"
    if ef <= 70:
        return "normal"
    return "hyperdynamic"


def _report(rng: np.random.Generator, diag: str, edv: float, wall: float, ef: float, effusion: bool) -> str:
    head = ["Cine SSFP short axis.", "Cardiac cine MRI.", "Short-axis cine."][rng.integers(3)]
    size = {"normal": ["The left ventricle is normal in size", "Normal left ventricular size"],
            "dilated cardiomyopathy": ["The left ventricle is severely dilated", "Marked left ventricular dilatation"],
            "hypertrophic cardiomyopathy": ["The left ventricle is small", "Small left ventricular cavity"]}[diag]
    wall_txt = ("thin walls" if wall < 7 else "concentric hypertrophy" if wall > 11 else "normal wall thickness")
    s1 = f"{size[rng.integers(2)]} (EDV {edv:.0f} mL) with {wall_txt} ({wall:.0f} mm)."
    s2 = [f"Systolic function is {_function_word(ef)}, LVEF {ef:.0f} %.",
          f"LVEF {ef:.0f} %, {_function_word(ef)} systolic function."][rng.integers(2)]
    s3 = "A pericardial effusion is present." if effusion else ["No pericardial effusion.", ""][rng.integers(2)]
    impression = {"normal": "normal heart"}.get(diag, diag)
    return " ".join(s for s in (head, s1, s2, s3, f"Impression: {impression}.") if s)


def _ellipse(xr: np.ndarray, yr: np.ndarray, a: float, b: float, edge: float) -> np.ndarray:
    """Soft inside-ness of the ellipse (x/a)² + (y/b)² < 1, with an edge of about ``edge`` pixels."""
    r = np.sqrt((xr / a) ** 2 + (yr / b) ** 2)
    return 1.0 / (1.0 + np.exp(-(1.0 - r) * min(a, b) / edge))


def render_case(rng: np.random.Generator, diag: str, effusion: bool, frames: int, size: int) -> tuple[np.ndarray, dict]:
    """One phantom cine loop, float32 (frames, size, size) in [0, 1], and its ground truth."""
    (a_lo, a_hi), (w_lo, w_hi), (e_lo, e_hi) = _RANGES[diag]
    a = rng.uniform(a_lo, a_hi)
    b = a * rng.uniform(0.85, 1.0)
    c = 1.9 * a
    wall = rng.uniform(w_lo, w_hi)
    ef = rng.uniform(e_lo, e_hi)
    edv = 4.0 / 3.0 * math.pi * a * b * c / 1000.0  # mL
    esv = edv * (1 - ef / 100.0)
    vol = volume_curve(frames, edv, esv, slow_filling=diag == "hypertrophic cardiomyopathy")
    scale = (vol / edv) ** (1.0 / 3.0)
    myo_area = math.pi * ((a + wall) * (b + wall) - a * b)

    px = FOV_MM / size
    theta = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(-2, 2) * px, rng.uniform(-2, 2) * px
    coords = (np.arange(size) - (size - 1) / 2) * px
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    xr = (xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)
    yr = -(xx - cx) * math.sin(theta) + (yy - cy) * math.cos(theta)
    blood, myo, tissue = rng.uniform(0.85, 1.0), rng.uniform(0.1, 0.2), rng.uniform(0.35, 0.5)
    edge = 0.6 * px
    out = np.empty((frames, size, size), np.float32)
    for t, s in enumerate(scale):
        ai, bi = a * s, b * s
        w = 0.5 * (-(ai + bi) + math.sqrt((ai + bi) ** 2 + 4 * myo_area / math.pi))  # area-conserving wall
        lv = _ellipse(xr, yr, ai, bi, edge)
        epi = _ellipse(xr, yr, ai + w, bi + w, edge)
        rv_s = 0.85 + 0.15 * s  # the RV contracts less in this slice
        rv = _ellipse(xr + (a + wall + 0.3 * a) * rv_s, yr, 0.75 * a * rv_s, 1.35 * b * rv_s, edge) * (1 - epi)
        img = tissue + (myo - tissue) * epi + (blood - myo) * lv + (blood - tissue) * rv
        if effusion:
            rim = _ellipse(xr, yr, ai + w + 4.0, bi + w + 4.0, edge) * (1 - epi) * (1 - rv)
            img = img + (0.9 - tissue) * rim
        out[t] = img
    noise = rng.normal(0, 0.04, out.shape) + 1j * rng.normal(0, 0.04, out.shape)
    out = np.abs(out + noise).astype(np.float32)  # magnitude of complex noise: Rician, like MR
    out = (out - out.min()) / (out.max() - out.min())
    return out, {"lvef": ef, "edv": edv, "esv": esv, "wall_mm": wall}


def make_phantom(n: int, frames: int = 16, size: int = 32, seed: int = 0) -> SequenceSet:
    """``n`` phantom cases, deterministic for a given seed (diagnoses balanced in expectation)."""
    rng = np.random.default_rng(seed)
    seqs, texts, labels, targets = [], [], np.zeros((n, len(LABELS)), np.uint8), []
    for i in range(n):
        d = DIAGNOSES[int(rng.integers(len(DIAGNOSES)))]
        effusion = bool(rng.random() < 0.25)
        seq, truth = render_case(rng, d, effusion, frames, size)
        seqs.append(seq[:, None])
        texts.append(_report(rng, d, truth["edv"], truth["wall_mm"], truth["lvef"], effusion))
        labels[i, DIAGNOSES.index(d)] = 1
        labels[i, 3] = effusion
        targets.append([truth["lvef"], truth["edv"], truth["esv"]])
    return SequenceSet(np.stack(seqs).astype(np.float32), texts, labels, list(LABELS),
                       np.asarray(targets, np.float64), ["lvef", "edv", "esv"],
                       label_prompts=list(ZERO_SHOT_PROMPTS), exclusive=[0, 1, 2])
