"""`python -m cypool`: the report, its JSON form, the self-check passing and failing."""

import json

import numpy as np
import pytest
from child_python import run_python

import cypool
from cypool import __main__ as main_job


def test_text_report(capsys):
    assert main_job.main(["--quick", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    for expected in ("ISA level:", "OpenMP:", "threads:    1", "agree with cypool.reference",
                     "max_pool2d_backward"):
        assert expected in captured.out
    assert "self-check: 10 random 2-d cases" in captured.err  # progress stays off stdout
    assert "timing 4/4" in captured.err


def test_json_report(capsys):
    assert main_job.main(["--quick", "--threads", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert report["cypool"] == cypool.__version__
    assert report["isa_level"] in report["isa_levels_supported"]
    assert report["threads"] == 1
    assert report["self_check"]["ok"] is True
    assert set(report["self_check"]["failures"]) >= {
        f"{kind}_pool{n}d{suffix}" for kind in ("max", "avg") for n in (1, 2, 3)
        for suffix in ("", "_backward")}
    ops = [row["op"] for row in report["timing"]["rows"]]
    assert ops == ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
    assert all(row["cypool_ms"] > 0 and row["reference_ms"] > 0
               for row in report["timing"]["rows"])


def test_help_and_bad_options():
    completed = run_python(["-m", "cypool", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    assert "--json" in completed.stdout and "--threads" in completed.stdout
    with pytest.raises(SystemExit):
        main_job.main(["--threads", "0"])


def test_self_check_reports_a_wrong_op(monkeypatch, capsys):
    real_avg_pool2d = cypool.avg_pool2d

    def off_by_a_little(*args, **kwargs):
        return real_avg_pool2d(*args, **kwargs) * np.float32(1.0001)

    monkeypatch.setattr(cypool, "avg_pool2d", off_by_a_little)
    failures = main_job.self_check(cases_per_dim=3)
    assert failures["avg_pool2d"] == 3
    assert sum(failures.values()) == 3
    assert main_job.main(["--quick", "--threads", "1"]) == 1
    assert "self-check FAILED for 1 op(s): avg_pool2d" in capsys.readouterr().out
