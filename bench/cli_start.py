"""How long the CLI takes to answer, against importing Typer and rich alone.

    python bench/cli_start.py [--runs 15]

Each command runs as a fresh process (as a duty officer runs it); the baseline is
``python -c "import typer, rich"`` measured in the same run, interleaved with the commands so
that a busy machine slows both alike. Prints the median wall time of each and the ratio of the
slowest command to the baseline; target <= 2.0.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 2.0
ROOT = Path(__file__).resolve().parent.parent
BASELINE = [sys.executable, "-c", "import typer, rich"]
COMMANDS = {
    "yingji --help": ["--help"],
    "yingji plan list --help": ["plan", "list", "--help"],
    "yingji summary show --help": ["summary", "show", "--help"],
}


def cli(args: list[str]) -> list[str]:
    # the same entry point as the installed ``yingji`` script
    return [sys.executable, "-c", "from yingji.cli import main; main()", *args]


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    for argv in [BASELINE, *(cli(a) for a in COMMANDS.values())]:
        wall(argv)  # warm the file cache and the bytecode
    times: dict[str, list[float]] = {"baseline": [], **{name: [] for name in COMMANDS}}
    for _ in range(args.runs):
        times["baseline"].append(wall(BASELINE))
        for name, a in COMMANDS.items():
            times[name].append(wall(cli(a)))

    base = statistics.median(times["baseline"])
    print(f"baseline  python -c 'import typer, rich': median {base * 1000:.0f} ms")
    worst = 0.0
    for name in COMMANDS:
        median = statistics.median(times[name])
        worst = max(worst, median / base)
        print(f"command   {name:<28} median {median * 1000:.0f} ms  ratio {median / base:.2f}")
    verdict = "PASS" if worst <= TARGET else "FAIL"
    print(f"RESULT    slowest/baseline ratio {worst:.2f} (target <= {TARGET:.2f}); {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
