"""`python -m cypool`: the self-check passes, and fails when an op is wrong."""

import numpy as np

import cypool
from cypool import __main__ as main_job


def test_main_job_quick_run_passes(capsys):
    assert main_job.main(["--quick", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "ISA level" in printed and "agree with cypool.reference" in printed
    assert "max_pool2d_backward" in printed  # the timing table


def test_self_check_reports_a_wrong_op(monkeypatch, capsys):
    real_avg_pool2d = cypool.avg_pool2d

    def off_by_a_little(*args, **kwargs):
        return real_avg_pool2d(*args, **kwargs) * np.float32(1.0001)

    monkeypatch.setattr(cypool, "avg_pool2d", off_by_a_little)
    assert main_job.self_check(cases_per_dim=3) == 1
    assert "FAIL avg_pool2d:" in capsys.readouterr().out
