"""What-if edits applied to the tables read (edits.apply_edits): new tables, the ones given
untouched; leavers stay the previous owner; every edit that cannot apply is named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from territory_opt import scenario_from_dict
from territory_opt.edits import apply_edits


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    reps = pd.DataFrame(
        {
            "id": ["R1", "R2"],
            "name": ["Ann", "Bob"],
            "lon": [-84.0, -83.0],
            "lat": [33.0, 34.0],
            "skills": [frozenset(), frozenset()],
            "capacity": [1.0, 1.0],
            "area": ["", ""],
            "region": ["", ""],
        }
    )
    accounts = pd.DataFrame({"id": ["A1", "A2", "A3"], "owner": ["R1", "R2", "R2"], "lock": ["", "", ""]})
    return reps, accounts


def _scenario(edits: dict, *, locks: bool = True):
    return scenario_from_dict(
        {
            "name": "t",
            "data": {"dataset": "us-counties", "states": ["GA"]},
            "edits": edits,
            "constraints": {"locks": locks},
        }
    )


def test_edits_give_new_tables_and_leave_the_given_ones_untouched():
    reps, accounts = _tables()
    before = (reps.copy(), accounts.copy())
    scenario = _scenario(
        {
            "remove_reps": ["Bob"],  # by name, like an owner
            "add_reps": [{"id": "R3"}],  # an open seat
            "move_reps": [{"id": "R1", "lat": 32.5, "lon": -84.5}],
            "lock": {"A1": "R3"},
        }
    )
    edited = apply_edits(scenario, reps, accounts, None, file_locks={"A3": "R1"})
    assert edited.problems == []
    assert edited.reps["id"].tolist() == ["R1", "R3"]
    assert edited.reps.loc[0, ["lat", "lon"]].tolist() == [32.5, -84.5]
    assert np.isnan(edited.reps.loc[1, "lat"])  # no home base: the model chooses its centre
    assert edited.removed.to_dict("records") == [{"id": "R2", "name": "Bob"}]
    # the leaver's accounts have no owner (they must move) and keep him as previous owner
    assert edited.accounts["owner"].tolist() == ["R1", "", ""]
    assert edited.accounts["previous_owner"].tolist() == ["R1", "R2", "R2"]
    assert edited.accounts["lock"].tolist() == ["R3", "", "R1"]  # edits.lock and the lock file
    assert edited.geo_units is None
    assert edited.note == (
        "what-if edits: 1 rep(s) added, 1 removed, 1 moved, 2 lock(s) set; 2 unit(s) of removed reps must move "
        "(the leaver stays their previous owner in the outputs; not counted against a disruption budget)"
    )
    pd.testing.assert_frame_equal(reps, before[0])
    pd.testing.assert_frame_equal(accounts, before[1])


def test_edits_that_cannot_apply_are_each_named():
    reps, accounts = _tables()
    accounts.loc[1, "lock"] = "R2"
    scenario = _scenario({"remove_reps": ["R2", "R9"], "add_reps": [{"id": "R1"}], "lock": {"A9": "R1", "A3": "R7"}})
    found = apply_edits(scenario, reps, accounts, None).problems
    assert {p.source for p in found} == {"scenario edits"}
    assert [p.message for p in found] == [
        "remove_reps.1: 'R9' is not a rep in the roster",
        "add_reps.0: 'R1' is already a rep in the roster; choose another id",
        "lock 'A3': 'R7' is not a rep in the roster (after the edits)",
        "lock 'A9': no account or unit has this id",
        "1 account(s)/unit(s) are locked to removed reps ('A2'): unlock them (--lock A2= or edits.lock: {A2: ''}) "
        "or keep the rep",
    ]
    # with locks off, a lock to a leaver is simply dropped
    off = apply_edits(_scenario({"remove_reps": ["R2"]}, locks=False), reps, accounts, None)
    assert off.problems == [] and off.accounts["lock"].tolist() == ["", "", ""]
