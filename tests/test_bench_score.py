"""The benchmark's shared scoring function (bench/score.py) judges every engine alike: check it
on cases computed by hand."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from instances import Instance
from score import oversized, score


def grid(weights, k=2, tolerance=0.05):
    """2 x 3 grid: 0 1 2 / 3 4 5, rook adjacency, 1 km apart."""
    xy = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]], dtype=float)
    edges = np.array([[0, 1], [1, 2], [3, 4], [4, 5], [0, 3], [1, 4], [2, 5]])
    return Instance(name="grid", family="test", weights=np.asarray(weights, float)[:, None], measure_names=("w",), xy=xy, edges=edges, k=k, tolerance=(tolerance,), minimise="dispersion")


def test_balanced_contiguous_halves():
    s = score(grid([1, 1, 1, 1, 1, 1]), np.array([0, 0, 0, 1, 1, 1]))
    assert s["balanced"] and s["all_contiguous"] and s["spread_pct"] == 0.0
    assert s["cut_edges"] == 3
    assert s["dispersion"] == pytest.approx(4 / 6, abs=1e-3)  # each row: centre in the middle, 1 + 1 km (rounded to 3 places)
    assert s["radius"] == 1.0


def test_split_territory_and_imbalance_are_caught():
    s = score(grid([1, 1, 1, 1, 1, 1]), np.array([0, 1, 0, 1, 1, 1]))
    assert not s["all_contiguous"] and s["contiguous"] == "1/2"  # 0 and 2 are not adjacent
    assert s["spread_pct"] == pytest.approx(100 * (4 - 3) / 3, abs=0.01) and not s["balanced"]


def test_an_oversized_unit_alone_is_exempt_for_every_engine():
    inst = grid([10, 1, 1, 1, 1, 1], k=3)
    assert oversized(inst).tolist() == [True, False, False, False, False, False]
    s = score(inst, np.array([0, 1, 1, 2, 2, 2]))  # the rest: 2 vs 3 around a mean of 2.5
    assert s["standalone"] == 1 and s["spread_pct"] == pytest.approx(20.0)
    assert score(inst, np.array([0, 0, 1, 2, 2, 1]))["standalone"] == 0  # not alone: not exempt


def test_units_cut_off_behind_an_oversized_unit_may_stand_with_it():
    # a path 0-1-2-3-4-5 with unit 1 oversized: unit 0 reaches the rest only through it
    xy = np.column_stack([np.arange(6, dtype=float), np.zeros(6)])
    edges = np.array([[i, i + 1] for i in range(5)])
    inst = Instance(name="path", family="test", weights=np.array([1, 10, 1, 1, 1, 1], float)[:, None], measure_names=("w",), xy=xy, edges=edges, k=3, tolerance=(0.05,), minimise="dispersion")
    s = score(inst, np.array([0, 0, 1, 1, 2, 2]))
    assert s["standalone"] == 1
    assert s["spread_pct"] == pytest.approx(0.0)  # the rest: 2 and 2 around a mean of 2
    # unit 2 is not cut off (it reaches 3): with the oversized unit it is not exempt
    assert score(inst, np.array([0, 0, 0, 1, 2, 2]))["standalone"] == 0


def test_targets_follow_fte_when_seats_differ():
    # seat 1 is full time, seat 0 half time: 2 of 6 and 4 of 6 is the balanced split
    inst = grid([1, 1, 1, 1, 1, 1], k=2)
    inst = Instance(**{**inst.__dict__, "extra": {"fte": np.array([0.5, 1.0])}})
    assert score(inst, np.array([0, 0, 1, 1, 1, 1]))["spread_pct"] == pytest.approx(0.0)
    assert score(inst, np.array([0, 0, 0, 1, 1, 1]))["spread_pct"] == pytest.approx(50.0)
