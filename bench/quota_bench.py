"""Quota allocation at scale: 5,000 territories x 12 months (target: under 2 s).

Run: ``python bench/quota_bench.py``; prints the timings (median of 3 runs).
"""

from __future__ import annotations

import time

import numpy as np

from territory_opt.quota import set_quotas_arrays, split_periods


def measure(k: int = 5000) -> dict:
    """Median of 3 timed runs of quotas + monthly split for ``k`` territories."""
    rng = np.random.default_rng(0)
    potential = rng.lognormal(np.log(1e6), 0.5, k)
    history = potential * rng.uniform(0.2, 0.5, k)
    target = float(history.sum() * 1.1)
    profile = np.array([7, 7, 8, 8, 8, 9, 8, 8, 9, 9, 9, 10], dtype=float)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rounded, _, binding = set_quotas_arrays(target=target, potential=potential, history=history, alpha=0.5, growth_min=-0.05, growth_max=0.3, unit=1000.0)
        periods = split_periods(rounded, profile, 1000.0)
        times.append(time.perf_counter() - t0)
    assert abs(rounded.sum() - target) < 1e-6 * target
    assert np.allclose(periods.sum(axis=1), rounded)
    return {"territories": k, "months": 12, "median_s": round(float(np.median(times)), 2), "runs_s": [round(t, 2) for t in times], "binding": len(binding), "sums_exact": True}


def main() -> None:
    r = measure()
    print(f"quotas: {r['territories']} territories x 12 months: median {r['median_s']:.2f} s (runs: {r['runs_s']}); {r['binding']} bounds binding; sums exact")


if __name__ == "__main__":
    main()
