"""Stand-in worker machines for NNI's remote training service: sshd in private namespaces.

Each :class:`WorkerHost` is one ``sshd`` listening on its own loopback address,
started inside its own mount and UTS namespaces (``unshare --mount --uts
--propagation private``). Inside, the worker has its own host name, and
``/tmp``, ``/run`` and the login user's home are private tmpfs mounts, so
NNI's uploads (``/tmp/nni-experiments``), the runner's files and anything a
trial leaves in ``/tmp`` or ``~`` exist on that worker only. Only the paths in
``shared`` (the storage root, standing in for the NFS mount every machine has)
are bind-mounted back at the same path they have on the manager's machine.

Login is by a throw-away key pair only (``PasswordAuthentication no``); the
public key is installed into the private home as ``~/.ssh/authorized_keys``,
the way ``ssh-copy-id`` would on a real machine.

Everything started here is tracked: the sshd's pid (stopped by pid) and its
namespaces' inodes, so :meth:`WorkerHost.leftovers` can list every process
still living in a worker's namespaces (trials, NNI's runner, sshd children).
A namespace with no process left is gone.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def unavailable_reason() -> str | None:
    """Why worker hosts cannot run here (None: they can)."""
    if sys.platform != "linux":
        return "worker hosts need Linux namespaces"
    if os.geteuid() != 0:
        return "worker hosts need root (mount namespaces, sshd)"
    for tool in (SSHD, shutil.which("unshare"), shutil.which("ssh-keygen")):
        if tool is None or not Path(tool).is_file():
            return f"{tool or 'unshare/ssh-keygen'} is missing (apt-get install openssh-server util-linux)"
    probe = subprocess.run(
        ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs ga-probe /mnt && hostname ga-probe"],
        capture_output=True, text=True, timeout=30,
    )
    if probe.returncode != 0:
        return f"cannot create mount/UTS namespaces here: {probe.stderr.strip()}"
    return None


def make_key_pair(directory: Path, name: str = "id_ed25519") -> Path:
    """A fresh passphrase-less ed25519 key pair in ``directory``; returns the private key path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ga-squad-test", "-f", str(key)],
                   check=True, capture_output=True, timeout=30)
    return key


def namespace_of(pid: int, kind: str) -> str | None:
    """``mnt:[4026532…]`` for a live pid, None if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def pids_in_namespace(kind: str, ident: str) -> list[int]:
    """Live (non-zombie) pids whose ``kind`` namespace is ``ident``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / kind) != ident:
                continue
            if (entry / "stat").read_text().split(") ", 1)[-1].startswith("Z"):
                continue
        except OSError:
            continue
        found.append(int(entry.name))
    return sorted(found)


@dataclass(frozen=True)
class WorkerSpec:
    """One stand-in machine.

    Attributes:
        name: Its host name (what ``socket.gethostname()`` says on it).
        address: Loopback address its sshd listens on (e.g. ``127.0.0.11``).
        port: sshd's port.
        directory: Its own folder on the manager's machine (sshd config,
            host key, log); also visible inside the worker, at the same path.
        shared: Paths every machine sees (the storage root), bind-mounted at
            the same path.
        authorized_key: Public key allowed to log in.
        user: Login user (root here: the test runs as root).
    """

    name: str
    address: str
    port: int
    directory: Path
    shared: tuple[Path, ...]
    authorized_key: Path
    user: str = "root"


class WorkerHost:
    """A running stand-in worker; :meth:`start`, then :meth:`stop` (always)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.pid: int | None = None
        self.namespaces: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.spec.directory / "sshd.log"

    def start(self, timeout: float = 20.0) -> WorkerHost:
        """Create the namespaces, mount the private and shared folders, start sshd; wait until it listens."""
        spec = self.spec
        spec.directory.mkdir(parents=True, exist_ok=True)
        host_key = spec.directory / "ssh_host_ed25519_key"
        if not host_key.exists():
            make_key_pair(spec.directory, host_key.name)
        config = spec.directory / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {spec.address}:{spec.port}",
            f"HostKey {host_key}",
            f"PidFile {spec.directory / 'sshd.pid'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "Subsystem sftp internal-sftp",
            "MaxSessions 64",
            "MaxStartups 64",
            "LogLevel VERBOSE",
            "",
        ]))
        # what ssh-copy-id does on a real machine; installed into the private home at boot
        shutil.copyfile(spec.authorized_key, spec.directory / "authorized_keys")
        script = spec.directory / "boot.sh"
        script.write_text(self._boot_script(config))
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                ["unshare", "--mount", "--uts", "--propagation", "private", "sh", str(script)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        self.pid = self._process.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"worker {spec.name} exited {self._process.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')}")
            if _listening(spec.address, spec.port):
                for kind in ("mnt", "uts"):
                    ident = namespace_of(self.pid, kind)
                    if ident is None:
                        raise RuntimeError(f"worker {spec.name}: sshd pid {self.pid} vanished")
                    self.namespaces[kind] = ident
                if self.namespaces["mnt"] == namespace_of(os.getpid(), "mnt"):
                    raise RuntimeError(f"worker {spec.name}: sshd is not in its own mount namespace")
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"worker {spec.name}: sshd not listening on {spec.address}:{spec.port} "
                           f"after {timeout} s:\n{self.log_path.read_text(errors='replace')}")

    def _boot_script(self, config: Path) -> str:
        """The shell that runs inside the new namespaces, then becomes sshd."""
        spec = self.spec
        home = pwd.getpwnam(spec.user).pw_dir
        # Paths that must survive the private mounts: shared storage, the
        # worker's own folder, and the Python installation when it lives in the
        # home (pyenv) -- on a real worker that is simply installed there.
        keep = [*spec.shared, spec.directory]
        base = Path(sys.base_prefix).resolve()
        if base == Path(home) or Path(home) in base.parents:
            keep.append(base)
        # The venv (pythonPath of the workers) too, when it lives in a folder the worker hides
        # (a checkout under /tmp, as CI may use).
        venv = Path(sys.prefix).resolve()
        if venv != base and any(venv == h or h in venv.parents for h in (Path("/tmp"), Path("/run"), Path(home))):
            keep.append(venv)
        q = shlex.quote
        lines = [
            "set -eu",
            f"hostname {q(spec.name)}",
            # stage the kept paths on a tmpfs of this namespace only, so they
            # survive the private /tmp and home mounted over them
            "mount -t tmpfs -o mode=0700 ga-stage /mnt",
        ]
        for i, path in enumerate(keep):
            lines += [f"mkdir /mnt/k{i}", f"mount --bind {q(str(path))} /mnt/k{i}"]
        lines += [
            "mount -t tmpfs -o mode=1777 ga-tmp /tmp",
            f"mount -t tmpfs -o mode=0700 ga-home {q(home)}",
            "mount -t tmpfs -o mode=0755 ga-run /run",
            "mkdir -p -m 0755 /run/sshd",
        ]
        for i, path in enumerate(keep):
            lines += [f"mkdir -p {q(str(path))}", f"mount --move /mnt/k{i} {q(str(path))}"]
        lines += [
            "umount /mnt",
            f"mkdir -p -m 0700 {q(home)}/.ssh",
            f"cp {q(str(spec.directory / 'authorized_keys'))} {q(home)}/.ssh/authorized_keys",
            f"chmod 0600 {q(home)}/.ssh/authorized_keys",
            f"exec {SSHD} -D -e -f {q(str(config))}",
            "",
        ]
        return "\n".join(lines)

    def leftovers(self) -> list[int]:
        """Pids still living in this worker's namespaces (the sshd included while it runs)."""
        found: set[int] = set()
        for kind, ident in self.namespaces.items():
            found.update(pids_in_namespace(kind, ident))
        return sorted(found)

    def stop(self, timeout: float = 10.0) -> list[int]:
        """Stop sshd by pid; returns the pids that had to be killed besides it (should be [])."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout)
        killed = []
        deadline = time.monotonic() + timeout
        while (survivors := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            survivors = self.leftovers()
            for pid in survivors:
                try:
                    os.kill(pid, sig)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            if survivors:
                time.sleep(1.0)
        return sorted(set(killed))

    def ssh(self, key: Path, command: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the worker over SSH with ``key`` (no known_hosts, batch mode)."""
        return subprocess.run(
            ["ssh", "-i", str(key), "-p", str(self.spec.port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", f"{self.spec.user}@{self.spec.address}", command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )


def _listening(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


def start_workers(specs: Sequence[WorkerSpec]) -> list[WorkerHost]:
    """Start every worker; if one fails, stop those already started and re-raise."""
    started: list[WorkerHost] = []
    try:
        for spec in specs:
            started.append(WorkerHost(spec).start())
    except BaseException:
        for host in started:
            host.stop()
        raise
    return started
