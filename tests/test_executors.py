import threading
import time
from pathlib import Path

import pytest

from pmp_vvc.errors import ConfigError
from pmp_vvc.evaluation.executors import DaskExecutor, LocalExecutor, make_executor, run_all
from pmp_vvc.evaluation.jobs import run_job
from test_jobs import make_job

_lock = threading.Lock()
_running = {"now": 0, "max": 0}


def _slow_square(x: int) -> int:
    with _lock:
        _running["now"] += 1
        _running["max"] = max(_running["max"], _running["now"])
    time.sleep(0.05 * (5 - x))
    with _lock:
        _running["now"] -= 1
    return x * x


def test_local_executor_runs_all_with_limit() -> None:
    _running.update(now=0, max=0)
    results = run_all(LocalExecutor(2), _slow_square, [1, 2, 3, 4], progress=False, describe=str)
    assert sorted(results) == [1, 4, 9, 16]
    assert _running["max"] == 2
    assert results[0] != 1  # completion order, not submission order
    assert run_all(LocalExecutor(1), _slow_square, []) == []


def test_local_executor_propagates_errors() -> None:
    def boom(x: int) -> int:
        raise RuntimeError(f"bad {x}")

    with pytest.raises(RuntimeError, match="bad"):
        run_all(LocalExecutor(1), boom, [1, 2])


def test_make_executor_errors() -> None:
    assert isinstance(make_executor("local", 3), LocalExecutor)
    with pytest.raises(ConfigError, match="at least 1"):
        make_executor("local", 0)
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(ConfigError, match="--scheduler"):
        make_executor("dask", 1, None)


@pytest.mark.slow
def test_dask_executor_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    jobs = [make_job(tmp_path, qp=qp) for qp in (32, 37)]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address)  # the Client(address) path
        try:
            results = run_all(executor, run_job, jobs, progress=False)
        finally:
            executor.close()
    assert sorted(r.job.qp for r in results) == [32, 37]
    assert all(r.ok for r in results), [r.log_tail for r in results]
    assert all(j.path(".json").is_file() for j in jobs)
