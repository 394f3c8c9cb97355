"""The SAE benchmark's pieces: the competing second job, the snapshots of a fit, the table rows."""

import os
import time

import numpy as np
import pytest

from retinacodec.bench import sae as bench
from retinacodec.bench._record import Record


def test_the_second_job_runs_only_inside_the_block():
    before = os.times().children_user
    with bench.second_job() as job:
        time.sleep(1.0)
        assert job.poll() is None  # still computing
    assert job.returncode is not None  # ended and waited for
    assert os.times().children_user - before > 0.05  # it used the CPU
    with bench.second_job(active=False) as nothing:
        assert nothing is None


def test_a_trace_keeps_every_nth_step_and_the_last():
    trace = bench._Trace(every=3)
    for step in range(7):
        trace.record(np.full((1, 2), step), last=step == 6)
    assert [int(d[0, 0]) for d in trace.dictionaries] == [2, 5, 6]
    assert trace.times == sorted(trace.times)


def test_the_race_records_the_time_to_its_recovery_and_the_whole_fits_time():
    def fit(recovery, fit_s):
        return {"recovery": recovery, "fit_s": fit_s, "to_goal_s": 1.0}

    results = {
        "a": {"sklearn": fit(0.95, 4.0), "nmf": {"recovery": 0.5}, "sae": [fit(0.99, 6.0), fit(0.90, 10.0)]},
        "b": {"sklearn": fit(0.97, 2.0), "nmf": None, "sae": [fit(0.965, 3.0)]},
    }
    record = Record("sae", [])
    bench._record_family(record, results, sae_seeds=2, loaded=True)
    race, whole = record.rows
    assert race["benchmark"].endswith("beside a second job") and race["reference"].endswith("(NMF 0.500)")
    assert whole["ours"] == "3.000-10.000 s, recovery not below scikit-learn's in 2 of 3"
    assert whole["ratio"] == "1.500-2.500x of its whole fit's time"
    assert record.figures["second_job"] is True


@pytest.mark.parametrize("name", ["64/48 k5 s.03"])
def test_the_hard_problem_is_the_issues_shape(name):
    problem = bench.PROBLEMS[name]
    assert (problem["n_features"], problem["n_atoms"], problem["n_active"], problem["noise"]) == (48, 64, 5, 0.03)
    (big,) = bench.IMAGENET.values()
    assert (big["n_features"], big["n_samples"]) == (2048, 50_000)
