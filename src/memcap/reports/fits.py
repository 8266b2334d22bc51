"""Fits of a sweep's rows: log-log slopes with 95% intervals, the series they are fitted on, and the checks
of each slope against the theorem's range (with the measured reason where one disagrees)."""

from __future__ import annotations

import math

import numpy as np


def fit_slope(xs, ys) -> tuple[float, float, float]:
    """Least-squares slope of log y on log x with a 95% confidence interval (t distribution)."""
    from scipy import stats as sst

    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    if len(lx) < 3:
        s = float(np.polyfit(lx, ly, 1)[0]) if len(lx) == 2 else math.nan
        return s, math.nan, math.nan
    r = sst.linregress(lx, ly)
    h = sst.t.ppf(0.975, len(lx) - 2) * r.stderr
    return float(r.slope), float(r.slope - h), float(r.slope + h)


VARIANT_KEYS = ("arch", "attention", "float64", "objective")  # rows of the variant sweep carry one of these


def select(rows: list[dict], **where) -> list[dict]:
    """Measured rows whose config matches `where`; rows of the variant sweep only when `where` names their key."""
    unnamed = [k for k in VARIANT_KEYS if k not in where]

    def ok(r):
        c = r["config"]
        if "refused" in r or any(k in c for k in unnamed):
            return False
        return all((c.get(k) == v) if not callable(v) else v(c.get(k)) for k, v in where.items())

    return sorted((r for r in rows if ok(r)), key=lambda r: (r["config"]["N"], r["config"]["n"]))


_TIGHT = dict(setting="next-token", mode="tight", bit_budget=None, n=16, vocab=1000)
# every series the report fits or draws, once: name -> (filters on a row's config, x axis); figures and
# fits both read their rows through `series_rows`, so they cannot drift apart
SERIES: dict[str, tuple[dict, str]] = {
    "next-token tight, params vs N": (_TIGHT, "N"),
    "next-token tight bits objective, params vs N": ({**_TIGHT, "objective": "bits"}, "N"),
    "next-token tight balanced objective, params vs N": ({**_TIGHT, "objective": "balanced"}, "N"),
    "next-token paper, params vs N": (dict(setting="next-token", mode="paper", n=16), "N"),
    "next-token 48-bit, params vs N": (dict(setting="next-token", bit_budget=48, n=16), "N"),
    "next-token vectors d=6, params vs N": (dict(setting="next-token", d=6), "N"),
    "next-token, params vs n": (dict(setting="next-token", mode="tight", bit_budget=None, vocab=1000, N=lambda N: N in (300, 1000)), "n"),
    "seq2seq, params vs nN": (dict(setting="seq2seq"), "nN"),
    # the embedding table bends small N: the asymptotic regime alone
    "next-token tight, params vs N (N >= 1000)": ({**_TIGHT, "N": lambda N: N >= 1000}, "N"),
    "seq2seq, params vs nN (nN >= 1000)": (dict(setting="seq2seq", N=lambda N: N >= 100), "nN"),
}


def series_rows(rows: list[dict], name: str) -> list[dict]:
    """The rows of one series, sorted by (N, n)."""
    where, axis = SERIES[name]
    rs = select(rows, **where)
    if axis == "n":  # the n sweep runs at one N (1000; 300 when quick): keep the N with most n values
        Ns = [r["config"]["N"] for r in rs]
        rs = [r for r in rs if r["config"]["N"] == max(set(Ns), key=Ns.count)] if Ns else []
    return rs


def x_of(row: dict, axis: str) -> int:
    c = row["config"]
    return c["n"] if axis == "n" else c["N"] * (c["n"] if axis == "nN" else 1)


def fits(rows: list[dict]) -> dict[str, dict]:
    """Each series' log-log slope, and the extrapolated N at which params < N per mode."""
    out = {}
    for name, (_, axis) in SERIES.items():
        rs = series_rows(rows, name)
        if len(rs) < 2:
            continue
        xs, ys = [x_of(r, axis) for r in rs], [r["params"] for r in rs]
        s, lo, hi = fit_slope(xs, ys)
        entry = {"slope": s, "ci95": [lo, hi], "points": len(rs), "x_range": [min(xs), max(xs)]}
        if axis == "N" and s < 1:
            # params = a N^s crosses N where N^(1-s) = a
            a = math.exp(np.mean(np.log(ys)) - s * np.mean(np.log(xs)))
            entry["params_below_N_at"] = a ** (1 / (1 - s))
        out[name] = entry
    return out


_EMBEDDING = ("the embedding table has one row per token present: it grows with N until every vocabulary token occurs "
              "(about N n = vocabulary) and is constant after, which bends the small-N slope")
EXPECTED = (  # (series, its asymptotic rows' series, low, high, the check in words, why it may disagree)
    ("next-token tight, params vs N", "next-token tight, params vs N (N >= 1000)", 0.4, 0.6,
     "next-token slope vs N in [0.4, 0.6]", _EMBEDDING),
    ("next-token, params vs n", None, -math.inf, 0.1, "next-token slope vs n <= 0.1",
     "the model grows with n through the window ids' bits (log n), which the O~ hides"),
    ("seq2seq, params vs nN", "seq2seq, params vs nN (nN >= 1000)", 0.4, 0.6, "seq2seq slope vs nN in [0.4, 0.6]", _EMBEDDING),
)


MIN_POINTS = 3  # a slope with a confidence interval needs 3 points
TOO_FEW = "too few points for a verdict"


def checks(fs: dict[str, dict]) -> list[dict]:
    """Each expectation with its measured slope and a verdict: "yes", "NO", or "too few points for a verdict"
    (the series, or the asymptotic rows that could explain a disagreement, have fewer than 3 points); where
    it is not "yes", the measured reason."""
    out = []
    for name, tail_name, lo, hi, what, reason in EXPECTED:
        f = fs.get(name)
        if f is None or f.get("points", MIN_POINTS) < MIN_POINTS:
            why = "not measured (too few rows in the sweep)" if f is None else f"{f['points']} points"
            out.append({"check": what, "slope": f and f["slope"], "ok": False, "verdict": TOO_FEW, "why": why})
            continue
        ok = lo <= f["slope"] <= hi
        verdict, why = ("yes" if ok else "NO"), ""
        if not ok:
            why = reason
            if tail_name:
                tail = fs.get(tail_name)
                enough = tail is not None and tail.get("points", MIN_POINTS) >= MIN_POINTS
                ci = f" [{tail['ci95'][0]:.3f}, {tail['ci95'][1]:.3f}]" if enough and tail is not None else ""
                why += (f"; over the asymptotic rows alone the slope is {tail['slope']:.3f}{ci} ({tail.get('points', '?')} points)"
                        if tail else "; no asymptotic rows to compare")
                if not enough:  # the rows that decide an asymptotic claim are too few to judge it
                    verdict = TOO_FEW
        out.append({"check": what, "slope": f["slope"], "ok": ok, "verdict": verdict, "why": why})
    return out
