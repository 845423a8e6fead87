# The two commands a new user needs (each sets itself up on a fresh machine):
#   make run    run the search on the bundled SQuAD sample through NNI, print the leaderboard
#   make test   run the test suite (includes real nnictl experiments)
# Python 3.11 is required (NNI 3.0 and TensorFlow 2.21 wheels).
# GPU=1 (e.g. `make setup GPU=1`) installs requirements-gpu.txt (TensorFlow with CUDA)
# instead of the CPU-only requirements.txt; switching reinstalls. Both add requirements-dev.txt
# (tests, notebook) and this package, editable (pyproject.toml: the `ga-squad` command).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GPU ?=
# make test's worker processes (pytest-xdist): 2 fills the 2 cores CI has; each file runs on one
# worker (--dist loadfile), so a module's fixture (a tiny search, a trained model) is built once;
# files go out in collection order, the nnictl and slow ones first (tests/conftest.py).
TEST_WORKERS ?= 2
REQUIREMENTS := $(if $(filter 1 yes true,$(GPU)),requirements-gpu.txt,requirements.txt)
STAMP := $(VENV)/.$(basename $(REQUIREMENTS))-installed

.PHONY: setup run run-full test test-fast bench report docs clean

setup: $(STAMP)

$(STAMP): $(REQUIREMENTS) requirements-common.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# tensorflow-cpu and tensorflow install the same package; only one may stay.
	$(PY) -m pip uninstall --quiet --yes $(if $(filter requirements.txt,$(REQUIREMENTS)),tensorflow,tensorflow-cpu) || true
	$(PY) -m pip install --quiet -r $(REQUIREMENTS) -r requirements-dev.txt
	@# The package itself, editable: `ga-squad` in .venv/bin, `python -m ga_squad` from any directory.
	@# --no-deps: its dependencies are exactly the pins just installed (pyproject.toml repeats them).
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.requirements*-installed
	@touch $(STAMP)

run: setup
	$(PY) -m ga_squad run

run-full: setup
	$(PY) -m ga_squad run --download --config config_full.yml

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(PY) -m pytest -q -m "not nni and not slow"

bench: setup
	$(PY) benchmarks/dispatch.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/weight_sharing.py --quick

report: setup
	$(PY) -m ga_squad report runs

# The documentation site (mkdocs.yml, docs/) into site/; --strict fails on a broken link or a stale
# API reference. Its tools (docs/requirements.txt) are installed here only: not on workers, not by setup.
docs: setup
	$(PY) -m pip install --quiet -r docs/requirements.txt
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache ga_squad.egg-info results/*.png results/*.csv
