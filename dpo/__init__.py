"""dpo — the Digital Performance Optimizer."""

import os

__version__ = "0.1.0"

# One BLAS thread per process, set before numpy loads: dpo's matrices are small (a forecast
# fits a few hundred days), where a pool of spinning BLAS threads only fights other processes
# for the cores — an ETS fit took 0.07 s with one thread and 0.6-1 s with the default pool
# beside one other busy process on a 2-core machine. Set them to override.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
