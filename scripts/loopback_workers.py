"""Try the multi-machine search on one machine: an ``sshd`` on loopback stands in for the workers.

Terminal 1 starts it and keeps it running (Ctrl-C stops it)::

    .venv/bin/python scripts/loopback_workers.py            # prints the config it wrote
    .venv/bin/python scripts/loopback_workers.py --check    # start, log in once, check the config, stop

Terminal 2 runs the search it printed, through NNI's remote training service over SSH::

    .venv/bin/ga-squad run --config runs/loopback/config_loopback.yml

What it starts: one ``sshd``, as this user, in the foreground as this script's
child, listening on 127.0.0.1 (and 127.0.0.2, ... with ``--workers``, one
machineList entry each) on a free port. It has its own host key and accepts
only a key pair made here, from loopback clients, for this user (no passwords).
Everything lives in ``--dir`` (default ``runs/loopback``): the keys,
``sshd_config``, ``sshd.log``, ``store/`` (the storage root: on one machine it
is trivially the same path for the tuner and every worker), ``nni/`` (NNI's
working directory) and ``config_loopback.yml``, which is ``config_remote.yml``
with only the machine-specific values replaced (as ``tests/remote/cluster.py``
does), tiny trials and a population small enough that children appear.

When the script ends (Ctrl-C, SIGTERM, or after ``--check``) it stops that
``sshd`` by its pid and nothing else; stop the experiment first (``run`` does at
its end; ``nnictl stop <id>`` otherwise), since SSH sessions NNI still holds
outlive the listening ``sshd``. As root, ``sshd`` needs its privilege-separation
directory ``/run/sshd``: created if missing, and removed again if it was.

Needs the OpenSSH server binary (``apt-get install openssh-server``; no service
is started) and ``ssh``/``ssh-keygen``. What one machine cannot show: workers
with their own ``/tmp`` and home, which ``tests/test_remote_hosts.py`` builds
with Linux namespaces.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PRIVSEP_DIR = Path("/run/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


def key_pair(path: Path, comment: str) -> Path:
    """A passphrase-less ed25519 key at ``path`` (kept if it exists); returns ``path``."""
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       check=True, capture_output=True, timeout=30)
    return path


def sshd_config(directory: Path, addresses: list[str], port: int, user: str) -> Path:
    host_key = key_pair(directory / "ssh_host_ed25519_key", "ga-squad-loopback-host")
    client_key = key_pair(directory / "client_key", "ga-squad-loopback-client")
    public = client_key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    authorized = directory / "authorized_keys"
    authorized.write_text(f'from="127.0.0.0/8" {public}\n', encoding="utf-8")  # loopback clients only
    authorized.chmod(0o600)
    config = directory / "sshd_config"
    config.write_text("\n".join([
        *(f"ListenAddress {address}:{port}" for address in addresses),
        f"HostKey {host_key}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized}",
        f"AllowUsers {user}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",  # the folder may sit under a world-writable /tmp; only the key made here logs in
        "Subsystem sftp internal-sftp",  # NNI copies its files over SFTP
        "MaxSessions 64",
        "MaxStartups 64",
        "LogLevel VERBOSE",
        "",
    ]), encoding="utf-8")
    return config


@contextlib.contextmanager
def running_sshd(sshd: Path, config: Path, addresses: list[str], port: int, log: Path) -> Iterator[int]:
    """Start ``sshd -D`` (this script's child), wait until it listens; always stop it, by pid."""
    made_privsep = False
    if os.geteuid() == 0 and not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755)
        made_privsep = True
    with open(log, "ab") as out:
        process = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not all(listening(address, port) for address in addresses):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
                raise SystemExit(f"error: sshd did not start listening on port {port}:\n{tail}")
            time.sleep(0.1)
        yield process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if made_privsep:
            with contextlib.suppress(OSError):
                PRIVSEP_DIR.rmdir()


def ssh_command(key: Path, port: int, user: str, address: str, command: str) -> list[str]:
    return ["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            f"{user}@{address}", command]


def check_login(key: Path, port: int, user: str, addresses: list[str], python_bin: Path) -> None:
    """Log in on every address as NNI will, and run the workers' Python there."""
    probe = f"PATH={shlex.quote(str(python_bin))}:$PATH python -c 'import nni, sys; print(sys.executable)'"
    for address in addresses:
        done = subprocess.run(ssh_command(key, port, user, address, probe), capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"error: ssh {user}@{address} -p {port} failed: {done.stderr.strip()}")
        print(f"ssh {user}@{address}:{port} ok, worker python {done.stdout.strip()}")


def loopback_config(directory: Path, addresses: list[str], port: int, user: str, key: Path,
                    python_bin: Path, trials: int, population: int) -> dict[str, Any]:
    """``config_remote.yml`` with the machine-specific values pointed at this machine, tiny trials."""
    config = yaml.safe_load((REPO / "config_remote.yml").read_text(encoding="utf-8"))
    store = directory / "store"
    threads = max(1, (os.cpu_count() or 1) // len(addresses))
    config.update(
        nniManagerIp="127.0.0.1",
        trialCommand=(f"python trial/trial.py --size tiny --epochs 1 --train-limit 400 --dev-limit 100 "
                      f"--glove data/glove.sample.50d.txt --storage-root {store} --cache-dir {store}/cache "
                      f"--threads {threads}"),
        trialCodeDirectory=str(REPO),
        trialConcurrency=len(addresses),
        maxTrialNumber=trials,
        maxExperimentDuration="30m",
        experimentWorkingDirectory=str(directory / "nni"),
    )
    config["tuner"]["codeDirectory"] = str(REPO)
    config["tuner"]["classArgs"].update(save_dir_root=str(store), population_size=population,
                                        tournament_size=population)
    template = config["trainingService"]["machineList"][0]
    config["trainingService"]["machineList"] = [
        {**template, "host": address, "port": port, "user": user, "sshKeyFile": str(key),
         "pythonPath": str(python_bin)}
        for address in addresses
    ]
    config.pop("sharedStorage", None)
    return config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--dir", type=Path, default=REPO / "runs" / "loopback",
                   help="folder for keys, sshd files, the storage root and the config (default runs/loopback)")
    p.add_argument("--port", type=int, default=0, help="sshd port (default: a free one)")
    p.add_argument("--workers", type=int, default=2,
                   help="machineList entries, one per loopback address 127.0.0.1, 127.0.0.2, ... (default 2)")
    p.add_argument("--trials", type=int, default=8, help="maxTrialNumber of the config (default 8)")
    p.add_argument("--population", type=int, default=2,
                   help="population_size = tournament_size (default 2: children from the third trial on)")
    p.add_argument("--check", action="store_true",
                   help="start sshd, log in, check the config with run's own loader, stop; exit 0 if all worked")
    args = p.parse_args(argv)
    if not 1 <= args.workers <= 254:
        p.error("--workers must be between 1 and 254")
    if args.trials <= args.population:
        p.error(f"--trials {args.trials} must exceed --population {args.population}, or no child is ever made")
    return args


def main(args: argparse.Namespace) -> int:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).is_file():
        print("error: no sshd (apt-get install openssh-server; the service need not run)", file=sys.stderr)
        return 1
    directory = args.dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    user = pwd.getpwuid(os.geteuid()).pw_name
    addresses = [f"127.0.0.{i}" for i in range(1, args.workers + 1)]
    port = args.port or free_port()
    python_bin = Path(sys.executable).parent  # this venv's bin/: the workers' pythonPath
    config_path = sshd_config(directory, addresses, port, user)
    key = directory / "client_key"
    experiment = directory / "config_loopback.yml"
    config = loopback_config(directory, addresses, port, user, key, python_bin, args.trials, args.population)
    experiment.write_text("# Written by scripts/loopback_workers.py: config_remote.yml pointed at a loopback sshd\n"
                          "# (which must be running: that script, in the foreground). ga-squad run --config THIS\n"
                          + yaml.safe_dump(config, sort_keys=False, width=1 << 20), encoding="utf-8")
    with running_sshd(Path(sshd), config_path, addresses, port, directory / "sshd.log") as pid:
        print(f"sshd pid {pid} listening on {', '.join(addresses)} port {port} "
              f"(log {directory / 'sshd.log'}), key {key}")
        check_login(key, port, user, addresses, python_bin)
        if args.check:
            from ga_squad.launch.config import load_launch_config  # the loader `ga-squad run` uses

            launch = load_launch_config(experiment)
            for warning in launch.warnings:
                print(f"warning: {warning}")
            print(f"config ok: {experiment} ({launch.platforms.pop()} platform, "
                  f"{len(launch.get('trainingService', 'machineList'))} workers)")
            return 0
        print(f"\nconfig: {experiment}\n\n{experiment.read_text(encoding='utf-8')}")
        print(f"In another terminal:\n  {python_bin / 'ga-squad'} run --config {experiment}\n"
              f"Ctrl-C here stops this sshd (pid {pid}) when the experiment has ended.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill <this script's pid>` stops sshd too
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nstopping sshd pid {pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
