"""One BLAS thread per process that answers customers.

A turn's linear algebra is small: a message's vector against a few thousand example vectors, a
product's few dozen chunk vectors. OpenBLAS spreads even these over every core, and on a busy
machine its threads wait for each other at every call: measured on 2 cores beside other work,
the intent examples' product (2,143 x 384 by one vector) took 7.6 ms with OpenBLAS's threads and
0.12 ms with one. The turns already run side by side (a process takes two at a time, a server
runs a process per core), so one thread each loses nothing.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_blas_thread() -> None:
    """Limit every BLAS library loaded in this process (numpy's, scipy's) to one thread, for
    the rest of the process (the limit holds until restored, which nothing here does).
    Libraries loaded later keep their own setting: call this after the models are loaded."""
    threadpool_limits(limits=1, user_api="blas")
