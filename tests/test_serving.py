"""The worker count ``csba serve`` picks when none is given (csba/serving.py says why)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from csba.serving import default_workers

ROOT = Path(__file__).resolve().parents[1]


def test_postgresql_gets_a_worker_per_core_and_sqlite_one_process() -> None:
    assert default_workers("postgresql+psycopg://csba@db/csba", cores=4) == 4
    assert default_workers("postgresql+psycopg://csba@db/csba", cores=1) == 1
    assert default_workers("sqlite:////srv/csba/csba.sqlite3", cores=4) == 1
    assert default_workers(None, cores=4) == 1  # the SQLite file in the data dir


def test_a_server_process_runs_its_linear_algebra_on_one_blas_thread() -> None:
    """In a fresh interpreter (the limit holds for the whole process), as ``open_app`` leaves
    it: numpy's and scikit-learn's BLAS at one thread, where they started with every core."""
    script = (
        "import json, numpy, sklearn.svm\n"
        "from threadpoolctl import threadpool_info\n"
        "before = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "from base.blas import one_blas_thread\n"
        "one_blas_thread()\n"
        "after = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "print(json.dumps([before, after]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        env.pop(name, None)  # each would set the starting count (the e5 engine sets the last)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env=env, cwd=ROOT)
    before, after = json.loads(done.stdout)
    assert before and after and len(after) == len(before)
    assert set(after) == {1}
    assert max(before) == (os.cpu_count() or 1)
