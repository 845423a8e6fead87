"""The package layering holds: the search side never loads TensorFlow or NNI.

The tuner runs in NNI's dispatcher process, which must connect to the NNI
manager within a fixed 10 s: importing TensorFlow there (seconds, gigabytes)
would make resumes fail on a loaded machine. Each check runs in a fresh
interpreter, so modules imported by other tests cannot hide a violation.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ga_squad.search

REPO = Path(__file__).resolve().parents[1]
SEARCH_MODULES = sorted(f"ga_squad.search.{m.name}" for m in pkgutil.iter_modules(ga_squad.search.__path__))
HEAVY = ("tensorflow", "keras", "nni", "h5py")


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_search_package_has_the_expected_modules() -> None:
    assert {"ga_squad.search.engine", "ga_squad.search.graph", "ga_squad.search.protocol"} <= set(SEARCH_MODULES)


@pytest.mark.parametrize("module", SEARCH_MODULES)
def test_search_modules_import_neither_tensorflow_nor_nni(module: str) -> None:
    loaded = _loaded_after_import([module])
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == [], f"importing {module} loads {heavy[:5]}"


def test_the_check_itself_sees_a_heavy_import() -> None:
    """Guard against a check that cannot fail: the reader's model module does load TensorFlow."""
    loaded = _loaded_after_import(["ga_squad.reader.model"])
    assert "tensorflow" in loaded or "keras" in loaded


def test_the_nni_tuner_module_does_not_load_tensorflow() -> None:
    loaded = _loaded_after_import(["tuner.ga_tuner"])
    assert "nni" in loaded
    assert not any(m.split(".")[0] in {"tensorflow", "keras", "h5py"} for m in loaded)
