"""Peak memory (RSS) of a 30-step run, against a 3-step run and against Python importing
what a run imports.

    .venv/bin/python bench/memory.py [--repeat 3]

Each run is `plancontrol run` against the test server (in this process), of researcher
steps that make one model call each and reply with a report of about 1.4 kB. A process's
peak resident size is what the kernel reports for it when it ends (``ru_maxrss`` from
``os.wait4``). The baseline is a Python process that imports every module a 3-step run had
imported when it ended, in the same order, then exits: what the imports alone cost. Each
figure is the median of ``--repeat`` processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from notes import long_note, replies, run_argv

from plancontrol.testing import OpenAITestServer

MIB = 1024  # ru_maxrss is in KiB on Linux

IMPORTS = """
import importlib, json, sys
for name in json.load(open(sys.argv[1])):
    if name != "__main__":
        try:
            importlib.import_module(name)
        except Exception:
            pass
"""

RECORD_MODULES = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(list(sys.modules))))
sys.argv[0] = "plancontrol"
runpy.run_module("plancontrol", run_name="__main__")
"""


def peak_mib(argv: list[str]) -> float:
    """Run ``argv``; the process's peak resident size in MiB."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    problem = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == 0, problem
    return usage.ru_maxrss / MIB


def run_peak(tmp: Path, steps: int, index: int, prefix: list[str]) -> float:
    """Peak RSS of one ``plancontrol run`` of ``steps`` researcher steps."""
    with OpenAITestServer(replies(steps, long_note)) as server:
        folder = tmp / f"run-{steps}-{index}"
        peak = peak_mib(run_argv(folder, steps, server.base_url, prefix))
        assert server.unused == {}, server.unused
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "plancontrol"]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        modules = tmp / "modules.json"
        run_peak(tmp, 3, 0, [sys.executable, "-c", RECORD_MODULES, str(modules)])
        imported = len(json.loads(modules.read_text()))
        peaks: dict[str, list[float]] = {"imports": [], "3": [], "30": []}
        for index in range(args.repeat):  # interleaved, so that drift hits all alike
            peaks["imports"].append(peak_mib([sys.executable, "-c", IMPORTS, str(modules)]))
            peaks["3"].append(run_peak(tmp, 3, index + 1, cli))
            peaks["30"].append(run_peak(tmp, 30, index + 1, cli))
    base, three, thirty = (statistics.median(peaks[k]) for k in ("imports", "3", "30"))
    print(f"peak RSS, median of {args.repeat} processes each ({imported} modules imported)\n")
    print("| process | peak RSS (MiB) | above the imports alone (MiB) |")
    print("|---|---|---|")
    print(f"| python importing what a 3-step run imports | {base:.1f} | |")
    print(f"| `plancontrol run`, 3 steps | {three:.1f} | {three - base:.1f} |")
    print(f"| `plancontrol run`, 30 steps | {thirty:.1f} | {thirty - base:.1f} |")
    print(
        f"\n30-step / 3-step: {thirty / three:.3f}; 30-step / imports alone: "
        f"{thirty / base:.3f}; each step past the third adds {(thirty - three) / 27 * 1024:.0f}"
        " KiB to the peak"
    )
    print("all peaks (MiB):", {k: [round(v, 1) for v in vs] for k, vs in peaks.items()})


if __name__ == "__main__":
    main()
