"""Where NNI's web UI and REST API listen: the loopback interface by default, on the local platform.

NNI 3.0 cannot be told: its manager's REST server (``nni_node/rest_server/index.js``)
calls ``app.listen(port)`` without a host, so Node listens on every
interface, and neither the experiment config, ``nnictl create/resume/view``
nor the manager's own arguments (``--port``, ``--url-prefix``, ...; its
argument parser is strict) take a host. On a shared machine that shows the
experiment (and its REST API, which can stop it or change its settings) to
anyone on the network.

What NNI does allow is Node's own ``NODE_OPTIONS``: ``nnictl`` starts the
manager with the environment it was given. For experiments whose trials all
run on this machine (the tuner and local trials reach the manager at
``localhost``), every launch through :mod:`ga_squad.launch.experiment` sets
``NODE_OPTIONS=--require <preload>``, a few lines (:data:`PRELOAD`, written
next to the experiments) that give a ``listen()`` without a host the host
127.0.0.1. NNI's code is unchanged. On the remote platform nothing is set:
the workers report back to the manager at ``nniManagerIp``, so it must listen
there; firewall the port instead (e.g. ``ufw allow from <worker> to any port
<port>``, deny the rest).

To open the web UI deliberately, forward the port over SSH
(``ssh -L 8080:127.0.0.1:8080 host``), or set ``GA_SQUAD_WEB_UI_HOST`` (an
address to listen on, or ``all`` for NNI's every-interface default).
``nnictl`` run by hand knows nothing of this and listens on every interface.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ga_squad.files import atomic_write

__all__ = ["BIND_ENV", "DEFAULT_HOST", "PRELOAD", "manager_env", "web_ui_host"]

BIND_ENV = "GA_SQUAD_WEB_UI_HOST"
DEFAULT_HOST = "127.0.0.1"
_ALL = {"all", "*", ""}

PRELOAD = r"""// ga-squad (ga_squad/launch/bind.py): NNI 3.0 listens without a host, i.e. on every
// interface; give such listen() calls the host in GA_SQUAD_WEB_UI_HOST (default 127.0.0.1).
'use strict';
const net = require('net');
const host = process.env.GA_SQUAD_WEB_UI_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (args.length === 1 || typeof args[1] === 'function') {
      args.splice(1, 0, host);
    }
  } else if (first !== null && typeof first === 'object' && first.port !== undefined &&
             first.host === undefined && first.path === undefined && first.fd === undefined) {
    args[0] = Object.assign({}, first, { host });
  }
  return listen.apply(this, args);
};
"""


def web_ui_host(environ: Mapping[str, str] = os.environ) -> str | None:
    """The address NNI's manager is made to listen on; None: NNI's default (every interface)."""
    value = environ.get(BIND_ENV, DEFAULT_HOST).strip()
    return None if value.lower() in _ALL else value


def manager_env(platforms: Iterable[str], folder: str | os.PathLike[str],
                environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Extra environment for ``nnictl`` so the manager listens on :func:`web_ui_host` (see the module docstring).

    Args:
        platforms: The experiment's training-service platforms.
        folder: Where to write the preload (the experiments' working directory).
        environ: The environment nnictl would otherwise get.

    Returns:
        ``{}`` on a non-local platform or with ``GA_SQUAD_WEB_UI_HOST=all``;
        else ``NODE_OPTIONS`` (any already set kept) and the host.
    """
    host = web_ui_host(environ)
    if host is None or set(platforms) != {"local"}:
        return {}
    preload = Path(folder) / ".ga-squad" / "listen-host.js"
    if not preload.is_file() or preload.read_text(encoding="utf-8") != PRELOAD:
        with atomic_write(preload, "w") as f:
            f.write(PRELOAD)
    path = str(preload.resolve())
    if any(c.isspace() or c in "\"\\" for c in path):  # NODE_OPTIONS takes double quotes, backslash escapes
        path = '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    options = " ".join(filter(None, [environ.get("NODE_OPTIONS", "").strip(), f"--require {path}"]))
    return {"NODE_OPTIONS": options, BIND_ENV: host}
