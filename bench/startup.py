"""Start-up benchmark: how long light commands take against `import typer, rich`.

    python bench/startup.py [--runs 15]

Prints the median wall time of each command over RUNS runs (interleaved, so machine noise
hits all alike) and its ratio to the baseline measured in the same run. Target: <= 1.5.

Every command runs once before timing, with bytecode caching on (in a temporary
PYTHONPYCACHEPREFIX), so all are timed as an installed program runs: from compiled bytecode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import record

SCRIPT = Path(sys.executable).parent / "dpo"  # the console script `pip install` made
DPO = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "dpo"]


def commands() -> dict[str, list[str]]:
    return {
        "python -c 'import typer, rich'": [sys.executable, "-c", "import typer, rich"],
        "dpo --help": [*DPO, "--help"],
        "dpo sync --help": [*DPO, "sync", "--help"],
        "dpo jobs list (empty db)": [*DPO, "jobs", "list"],
    }


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "DPO_HOME": home,
            "PYTHONPATH": str(Path(__file__).parent.parent),
            "PYTHONPYCACHEPREFIX": str(Path(home) / "pycache"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([*DPO, "init"], env=env, check=True, capture_output=True)
        cmds = commands()
        for argv in cmds.values():
            timed(argv, env)  # warm-up: writes the bytecode cache
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, argv in cmds.items():
                samples[name].append(timed(argv, env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["python -c 'import typer, rich'"]
    print(f"{'command':<32} {'median s':>9} {'ratio':>6}")
    for name, value in medians.items():
        print(f"{name:<32} {value:>9.3f} {value / baseline:>6.2f}")
        if value is not baseline:
            record("startup", f"`{name}` vs `import typer, rich`", f"{value * 1000:.0f} ms",
                   f"{baseline * 1000:.0f} ms", value / baseline, at_most=1.5)  # fmt: skip


if __name__ == "__main__":
    main()
