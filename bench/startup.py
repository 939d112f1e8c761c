"""Startup benchmark: `labctl --help` and `labctl validate` beside `ansible-playbook --version`.

Each command runs RUNS times in one session, interleaved so machine noise hits all alike;
medians and the ratios between them are printed. Targets (issue 2): --help <= 0.15 s and >= 4x
faster than ansible-playbook --version; validate <= 0.30 s (its ratio is printed too).

A reference row, `floor: typer+pydantic+yaml`, times the same venv's Python importing typer and
PyYAML and defining one pydantic model, which any validate does before a line of labctl's own:
validate's median minus the floor's is what labctl itself costs.

The project is installed as a user installs it: a wheel built from this checkout, `pip install`ed
(byte-compiled, with today's releases of its dependencies) into a fresh venv, whose own
`labctl` and `ansible-playbook` are timed. `--here` times the current environment instead.

    python bench/startup.py [--runs 15] [--here]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"labctl --help": 0.15, "labctl validate": 0.30}
RATIO_TARGETS = {"labctl --help": 4.0}
FLOOR = "floor: typer+pydantic+yaml"
FLOOR_CODE = (
    "import typer, yaml\nfrom pydantic import BaseModel\nclass M(BaseModel):\n    x: int = 0\n"
)


def executable(name: str) -> str:
    """Prefer the script beside this interpreter: version-manager shims add their own startup."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"error: {name} not found; install the project with its test extras first")
    return found


def time_once(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def installed_from_wheel(tmp: Path) -> tuple[str, str]:
    """Build the wheel, install it into a fresh venv; that venv's labctl and ansible-playbook."""
    root = Path(__file__).resolve().parents[1]
    dist, venv = tmp / "dist", tmp / "venv"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(dist), str(root)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    wheel = next(dist.glob("labctl-*.whl"))
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True)  # fmt: skip
    versions = subprocess.run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"],
                              check=True, capture_output=True, text=True).stdout  # fmt: skip
    wanted = ("typer", "pydantic", "ansible-core", "labctl")
    print("installed:", ", ".join(line for line in versions.split() if line.split("==")[0].lower()
                                  in wanted))  # fmt: skip
    return str(bin_dir / "labctl"), str(bin_dir / "ansible-playbook")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--here", action="store_true", help="time this environment's labctl")
    args = parser.parse_args()
    runs = args.runs

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.here:
            labctl, ansible = executable("labctl"), executable("ansible-playbook")
            python = sys.executable
        else:
            labctl, ansible = installed_from_wheel(work)
            python = str(Path(labctl).parent / "python")
        subprocess.run([labctl, "init", "--template", "gitops"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        commands = {
            "labctl --help": [labctl, "--help"],
            "labctl validate": [labctl, "validate"],
            "ansible-playbook --version": [ansible, "--version"],
            FLOOR: [python, "-c", FLOOR_CODE],
        }
        for argv in commands.values():  # warm the page cache once
            time_once(argv, work)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                samples[name].append(time_once(argv, work))

    medians = {name: statistics.median(times) for name, times in samples.items()}
    baseline = medians["ansible-playbook --version"]
    print(f"startup, median of {runs} interleaved runs")
    print(f"  {'command':<28} {'median':>8} {'target':>8} {'vs ansible':>11}  verdict")
    failed = False
    for name, median in medians.items():
        target = TARGETS.get(name)
        ratio = baseline / median
        verdict = "-"
        if target is not None:
            ok = median <= target and ratio >= RATIO_TARGETS.get(name, 0.0)
            failed |= not ok
            verdict = "ok" if ok else "MISSED"
        target_text = f"{target:.2f}s" if target else "-"
        print(f"  {name:<28} {median:>7.3f}s {target_text:>8} {ratio:>10.1f}x  {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
