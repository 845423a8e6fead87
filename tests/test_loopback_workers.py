"""``scripts/loopback_workers.py``: the one-machine recipe for the remote platform (README, "Several machines").

``--check`` starts the loopback ``sshd``, logs in on every address with the key
it made, runs the workers' Python there, loads the config it wrote with the
loader ``ga-squad run`` uses, and stops the ``sshd`` it started (by pid). No
NNI experiment is started (``tests/test_remote_hosts.py`` runs a real one).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "loopback_workers.py"


def sshd() -> str | None:
    found = shutil.which("sshd") or "/usr/sbin/sshd"
    return found if Path(found).is_file() else None


@pytest.mark.skipif(sys.platform != "linux" or sshd() is None or shutil.which("ssh") is None,
                    reason="needs Linux (127.0.0.2 on lo), sshd and ssh (apt-get install openssh-server)")
def test_check_starts_logs_in_writes_a_valid_config_and_stops_only_its_sshd(tmp_path: Path) -> None:
    directory = tmp_path / "loopback"
    done = subprocess.run([sys.executable, str(SCRIPT), "--check", "--dir", str(directory), "--trials", "5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" ok, worker python ") == 2  # both machineList entries answered
    assert f"config ok: {directory / 'config_loopback.yml'} (remote platform, 2 workers)" in done.stdout
    pid = int(re.search(r"sshd pid (\d+)", done.stdout).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped, and reaped by the script
    config = yaml.safe_load((directory / "config_loopback.yml").read_text(encoding="utf-8"))
    assert config["trainingService"]["platform"] == "remote" and config["nniManagerIp"] == "127.0.0.1"
    assert [m["host"] for m in config["trainingService"]["machineList"]] == ["127.0.0.1", "127.0.0.2"]
    assert all(m["sshKeyFile"] == str(directory / "client_key") and "password" not in m
               for m in config["trainingService"]["machineList"])
    store = str(directory / "store")
    assert config["tuner"]["classArgs"]["save_dir_root"] == store and f"--storage-root {store} " in config["trialCommand"]
    assert config["maxTrialNumber"] == 5 > config["tuner"]["classArgs"]["population_size"]  # children will come
    sshd_config = (directory / "sshd_config").read_text(encoding="utf-8")
    assert "PasswordAuthentication no" in sshd_config
    assert all(line.startswith("ListenAddress 127.0.0.") for line in sshd_config.splitlines() if "Listen" in line)


def test_a_config_that_can_never_make_a_child_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--trials", "2", "--population", "2", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "no child is ever made" in done.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was written or started
