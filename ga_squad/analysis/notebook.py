"""Where ``notebooks/evaluate_best.ipynb`` finds its search: its one parameter, checked with a clear message.

The notebook reads everything else through the analysis modules
(:class:`~ga_squad.analysis.search_dir.Search`, whose :meth:`best` is the
search's best individual, :func:`ga_squad.store.best.best_individual`); this
module only turns its environment into a search folder, so that a copy of
the notebook run outside the repository says how to point it at a search
instead of failing deep inside.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV_EXPERIMENT", "ENV_SEARCH_DIR", "NotebookSetupError", "find_repo", "notebook_search_dir"]

ENV_SEARCH_DIR = "GA_SQUAD_SEARCH_DIR"
ENV_EXPERIMENT = "GA_SQUAD_EXPERIMENT"
_RUN_IT = (f"set {ENV_SEARCH_DIR} to a search folder or a storage root of them (e.g. {ENV_SEARCH_DIR}=runs "
           f"jupyter execute notebooks/evaluate_best.ipynb, from the repository)")


class NotebookSetupError(RuntimeError):
    """The notebook does not know which search to evaluate; the message says how to tell it."""


def find_repo(start: str | os.PathLike[str]) -> Path | None:
    """The ga-squad repository holding ``start`` (a folder with ``ga_squad/__init__.py``), or None."""
    here = Path(start).resolve()
    return next((p for p in (here, *here.parents) if (p / "ga_squad" / "__init__.py").is_file()), None)


def notebook_search_dir(env: Mapping[str, str], repo: Path | None) -> Path:
    """The folder the notebook evaluates: ``$GA_SQUAD_SEARCH_DIR``, else the repository's ``runs/``.

    Args:
        env: The environment (``os.environ``).
        repo: The repository the notebook runs in (:func:`find_repo`), or None
            for a copy run elsewhere.

    Raises:
        NotebookSetupError: when neither names an existing folder; the
            message says which variable to set.
    """
    given = env.get(ENV_SEARCH_DIR)
    if given:
        path = Path(given).expanduser()
        if not path.is_dir():
            raise NotebookSetupError(f"{ENV_SEARCH_DIR}={given} is not a folder; {_RUN_IT}")
        return path
    if repo is None:
        raise NotebookSetupError(f"this notebook runs outside the ga-squad repository, so it has no runs/ folder "
                                 f"to evaluate; {_RUN_IT}")
    runs = repo / "runs"
    if not runs.is_dir():
        raise NotebookSetupError(f"no search to evaluate: {runs} does not exist (run `make run` first), or "
                                 f"{_RUN_IT}")
    return runs
