"""CI guard: find NNI managers that this CI run started and that are still alive.

``snapshot FILE`` records the pids of NNI managers running before the tests
(other users' or earlier runs' experiments, which CI must not touch).
``check FILE`` lists every manager alive now that was not in the snapshot,
stops each one by its experiment id (``nnictl stop ID``: only what our own
tests started), and exits 1 listing them, so a test that leaks an experiment
fails CI loudly instead of being cleaned up silently.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil


def _managers() -> dict[int, str | None]:
    """pid -> experiment id of every live NNI manager (``nni_node/main.js --experiment-id ID``)."""
    found: dict[int, str | None] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if not any(part.endswith("nni_node/main.js") for part in cmdline):
            continue
        experiment_id = None
        if "--experiment-id" in cmdline:
            at = cmdline.index("--experiment-id")
            experiment_id = cmdline[at + 1] if at + 1 < len(cmdline) else None
        found[proc.info["pid"]] = experiment_id
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"snapshot", "check"}:
        print("usage: nni_leftovers.py snapshot|check FILE", file=sys.stderr)
        return 2
    command, path = argv
    if command == "snapshot":
        Path(path).write_text(json.dumps(sorted(_managers())), encoding="utf-8")
        return 0
    before = set(json.loads(Path(path).read_text(encoding="utf-8")))
    leaked = {pid: exp for pid, exp in _managers().items() if pid not in before}
    if not leaked:
        print("no NNI experiment left running by the tests")
        return 0
    print("error: NNI experiments left running by the tests:", file=sys.stderr)
    for pid, experiment_id in sorted(leaked.items()):
        print(f"  pid {pid}: experiment {experiment_id}", file=sys.stderr)
        if experiment_id:
            nnictl = Path(sys.executable).with_name("nnictl")
            subprocess.run([str(nnictl), "stop", experiment_id], check=False, timeout=120)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
