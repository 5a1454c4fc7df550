"""Re-record the example runs that the tests replay:

    .venv/bin/python tests/recordings/record.py           # the test-server run
    .venv/bin/python tests/recordings/record.py --local   # also the embedded-model demo

The first is a real `plancontrol run` against the OpenAI-compatible test server, scripted
here; the second a real run on the embedded model (the `local` extra), the demo the README
replays. The run folders land in cassettes/ (replaced).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from scripts import PRIMES, review  # noqa: E402

from plancontrol.core.answers import Code, Verdict  # noqa: E402
from plancontrol.testing import OpenAITestServer  # noqa: E402

REPLIES = {
    "planner": [PRIMES, PRIMES],
    "plan_reviewer": [review("keep two steps")],
    "engineer": [
        Code("print(primes)"),
        Code(
            "primes = [n for n in range(2, 80) if all(n % d for d in range(2, n))][:20]\n"
            "open('primes.txt', 'w').write('\\n'.join(map(str, primes)) + '\\n')\n"
            "print(len(primes), 'primes, the largest', primes[-1])\n"
        ),
    ],
    "judge": [
        Verdict("fix", "NameError: primes is not defined", "compute the primes first"),
        Verdict("success", "20 primes saved to primes.txt"),
    ],
    "researcher": ["# Primes\n\nThe first 20 primes end with 71; they are in primes.txt.\n"],
}


LOCAL_TASK = "Compute the first 20 prime numbers, save them to primes.txt and write a short report"


def record_local() -> None:
    """The embedded-model demo: the README's task, on SmolLM2-135M, one attempt per step."""
    target = ROOT / "cassettes" / "demo-local"
    shutil.rmtree(target, ignore_errors=True)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "plancontrol", "run", LOCAL_TASK, "--model", "local"),
            *("--attempts", "1", "--run-dir", str(target), "-q"),
        ],
        check=False,
    )
    print(f"recorded {target} (exit status {done.returncode})")


def main() -> None:
    if "--local" in sys.argv[1:]:
        record_local()
    target = ROOT / "cassettes" / "primes-test-server"
    shutil.rmtree(target, ignore_errors=True)
    with OpenAITestServer(REPLIES) as server:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "plancontrol",
                "run",
                "Compute the first 20 primes, save them to primes.txt and write a short report",
                "--base-url",
                server.base_url,
                "--model",
                "test-model",
                "--run-dir",
                str(target),
                "-q",
            ],
            check=True,
        )
    print(f"recorded {target}")


if __name__ == "__main__":
    main()
