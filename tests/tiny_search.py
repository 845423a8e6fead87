"""A tiny real search shared by the report and notebook tests (run once per session).

pytest only auto-loads ``conftest.py``; this helper module caches the search
itself, so test modules that each define a fixture calling
:func:`tiny_search` still run the search once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the search module loads TensorFlow; importing this helper must not
    from ga_squad.sim.local_search import LocalSearchResult

EXPERIMENT_ID = "tiny-report"
DATA_CONFIG_NAME = "data_config.json"

_CACHE: dict[str, TinySearch] = {}


@dataclass(frozen=True)
class TinySearch:
    """Where the tiny search lies.

    Attributes:
        save_dir_root: The storage root (holds only this experiment).
        experiment_id: Its folder name.
        search_dir: ``save_dir_root / experiment_id``.
        data_config_path: JSON of the DataConfig it trained on (outside the
            search folder), for checkpoints that do not record it.
        result: What :func:`~ga_squad.sim.local_search.run_local_search`
            returned (trials, proposals, config): tests of the search itself
            read it instead of running the same search again.
    """

    save_dir_root: Path
    experiment_id: str
    search_dir: Path
    data_config_path: Path
    result: LocalSearchResult


def tiny_search(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    """Run (once) a 4-trial search: 2 cold starts, then 2 warm-started children."""
    if "search" not in _CACHE:
        pytest.importorskip("tensorflow")
        from ga_squad.sim.local_search import run_local_search, tiny_config
        from ga_squad.reader.training import configure_tensorflow

        logging.getLogger("ga_squad").setLevel(logging.WARNING)
        configure_tensorflow()
        base = tmp_path_factory.mktemp("tiny_search")
        root = base / "runs"
        config = tiny_config(str(root), EXPERIMENT_ID, max_trials=4)
        result = run_local_search(config)
        assert len(result.trials) == 4 and all(t.succeeded for t in result.trials)
        assert any(t.warm_start for t in result.trials) and any(not t.warm_start for t in result.trials)
        data_config = base / DATA_CONFIG_NAME
        data_config.write_text(json.dumps(config.data.to_dict()), encoding="utf-8")
        _CACHE["search"] = TinySearch(root, EXPERIMENT_ID, Path(result.root), data_config, result)
    return _CACHE["search"]
