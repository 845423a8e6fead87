"""The fault cases of issue 28 for ``benchmarks/faults.py``: damaged inputs, leftovers, retention with real trials.

(e) ``unreadable``: parents whose checkpoint version is ``chmod 000``, read by
    an unprivileged process (``nobody`` through ``setpriv`` when run as
    root): the tuner's resume and end recovery and the child's read of its
    parent must give "missing" / a cold start, never an exception.
(f) ``damaged``: a real (tiny Keras) parent whose manifest holds an unreadable
    graph or model config: the child's warm start must be a cold start.
(g) ``leftovers``: writers killed with SIGKILL mid-write (temporary
    checkpoints in individuals' folders, temporary files in ``shared/`` and
    ``embeddings/``) plus live writers; what is left after the trials' ends
    and after the next search start, and whether a live write was touched.
(h) ``inputs``: ``trial/trial.py`` run as a real process on seven damaged
    inputs and a GloVe file of 3 rows of 19 dimensions: one ``error:`` line
    naming the file (exit 1, no traceback), and a warning for the GloVe file.
(i) ``retention``: ``keep: 1`` over real tiny trials (TensorFlow, in this
    process, through the real tuner protocol); every child must read its
    parent's complete checkpoint at its start, some trials are killed mid-publish
    (with leftovers in the shared folders), and the bytes under the storage
    root, temporary files included, are sampled after every trial.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ga_squad.store import checkpoint_store as store
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import EngineProtocol, open_engine
from ga_squad.store.retention import RetentionConfig
from tests.fixtures import killed_writer
from tests.fixtures.fake_checkpoint import publish_fake

REPO = Path(__file__).resolve().parents[1]

__all__ = ["bad_inputs", "damaged_graphs", "leftovers", "retention", "temp_entries", "unreadable_parents"]


# --- (e) unreadable parents ---------------------------------------------------------------
_UNREADABLE_CHILD = r"""
import json, os, sys
from ga_squad.store import checkpoint_store as store
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import open_engine
root, parents = sys.argv[1], int(sys.argv[2])
lay = SearchLayout.for_experiment(root, "exp")
out = {"uid": os.getuid(), "crashes": [], "missing": 0, "lost_on_resume": 0, "cold_starts": 0}
def guard(what, call):
    try:
        return call()
    except Exception as exc:
        out["crashes"].append(f"{what}: {type(exc).__name__}: {exc}")
for i in range(parents):
    if guard("resolve", lambda: store.resolve(lay.individual_dir(i))) is None and \
            guard("metrics", lambda: store.published_metrics(lay.individual_dir(i), i)) is None:
        out["missing"] += 1
engine = guard("resume", lambda: open_engine(EvolutionConfig(population_size=2, seed=1), lay, fsync=False))
if engine is not None:
    out["lost_on_resume"] = sum(engine.individual(i).status.name == "FAILED" for i in range(parents))
    engine.close()
from ga_squad.reader.checkpoint import CheckpointCorrupt, read_checkpoint_state
for i in range(parents):
    try:
        read_checkpoint_state(lay.individual_dir(i))
    except CheckpointCorrupt:
        out["cold_starts"] += 1
    except Exception as exc:
        out["crashes"].append(f"read: {type(exc).__name__}: {exc}")
print(json.dumps(out))
"""


def _unprivileged(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str] | str:
    """Run as this user if not root, else as ``nobody`` (setpriv); a string says why it cannot."""
    if os.geteuid() != 0:
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    setpriv = shutil.which("setpriv")
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        return "running as root without a user 'nobody'"
    if setpriv is None:
        return "running as root without setpriv"
    return subprocess.run([setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


def unreadable_parents(parents: int = 10) -> dict[str, Any]:
    """(e): ``parents`` published, unreported individuals whose version directory is ``chmod 000``."""
    folder = Path(tempfile.mkdtemp(prefix="ga-faults-perm-"))
    try:
        folder.chmod(0o755)
        lay = SearchLayout.for_experiment(folder / "store", "exp")
        engine = open_engine(EvolutionConfig(population_size=parents, seed=1), lay, fsync=False)
        ready = engine.request(list(range(parents)), defer=False)
        engine.close()
        for _, params in ready:
            publish_fake(params["save_dir"], params["indiv_id"], {"default": 0.5, "indiv_id": params["indiv_id"]}, 100)
        if os.geteuid() == 0 and "nobody" in {p.pw_name for p in pwd.getpwall()}:
            nobody = pwd.getpwnam("nobody")
            for path, dirs, files in os.walk(folder):
                for name in [".", *dirs, *files]:
                    os.chown(os.path.join(path, name), nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
        for _, params in ready:
            for entry in Path(params["save_dir"]).iterdir():
                if entry.name.startswith(".checkpoint.v"):
                    entry.chmod(0)
        home = folder / "home"
        home.mkdir()
        if os.geteuid() == 0:
            os.chown(home, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(home),
               "KERAS_HOME": str(home / ".keras"), "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = _unprivileged([sys.executable, "-c", _UNREADABLE_CHILD, str(folder / "store"), str(len(ready))], env)
        if isinstance(done, str):
            return {"parents": len(ready), "skipped": done}
        if done.returncode != 0:
            return {"parents": len(ready), "crashes": 1, "error": done.stderr.strip().splitlines()[-1:]}
        out = json.loads(done.stdout.strip().splitlines()[-1])
        return {"parents": len(ready), "reader_uid": out["uid"], "missing_to_the_tuner": out["missing"],
                "lost_on_resume": out["lost_on_resume"], "child_cold_starts": out["cold_starts"],
                "crashes": len(out["crashes"]), "crash_examples": out["crashes"][:3]}
    finally:
        for path, dirs, _ in os.walk(folder):
            for name in dirs:
                os.chmod(os.path.join(path, name), 0o755)
        shutil.rmtree(folder, ignore_errors=True)


# --- (f) damaged graphs in a parent's manifest -----------------------------------------------
def damaged_graphs(root: Path) -> dict[str, Any]:
    """(f): a tiny real parent, its manifest damaged in six ways; the child's warm start each time."""
    import keras

    from ga_squad.reader.checkpoint import checkpoint_dir, publish_checkpoint
    from ga_squad.reader.config import ModelConfig
    from ga_squad.reader.model import build_model
    from ga_squad.reader.warm_start import load_shared
    from ga_squad.search.graph import base_reader

    cfg = ModelConfig.tiny()
    words, chars = 30, 12  # vocabulary sizes: any will do for weights
    graph = base_reader()
    keras.utils.set_random_seed(1)
    parent = build_model(graph, cfg, words, chars)
    damages = {
        "graph_layers_oops": lambda m: m["graph"].__setitem__("layers", "oops"),
        "graph_not_an_object": lambda m: m.__setitem__("graph", 3),
        "graph_layer_garbage": lambda m: m["graph"].__setitem__("layers", [{"x": 1}]),
        "graph_missing_fields": lambda m: m["graph"].__setitem__("layers", [1, 2]),
        "model_config_oops": lambda m: m.__setitem__("model_config", "oops"),
        "word_dim_oops": lambda m: m["model_config"].__setitem__("word_dim", "wide"),
    }
    outcomes: dict[str, str] = {}
    for name, damage in damages.items():
        save = root / "damaged" / name
        publish_checkpoint(parent, save, indiv_id=1, parent_id=None, graph=graph, model_config=cfg.to_dict(),
                           model_fingerprint=cfg.fingerprint(), data_fingerprint="d", metrics={"default": 1.0})
        path = checkpoint_dir(save) / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        damage(manifest)
        path.write_text(json.dumps(manifest), encoding="utf-8")
        keras.utils.set_random_seed(2)
        child = build_model(graph, cfg, words, chars)
        try:
            report = load_shared(child, save, graph.weight_ids(), graph=graph)
            outcomes[name] = "cold start" if not report.warm_start else "warm start (wrong)"
        except Exception as exc:  # what the issue found: the child crashed
            outcomes[name] = f"crash: {type(exc).__name__}"
    return {"cases": len(outcomes), "cold_starts": sum(v == "cold start" for v in outcomes.values()),
            "crashes": sum(v.startswith("crash") for v in outcomes.values()), "outcomes": outcomes}


# --- (g) leftovers of killed writers ----------------------------------------------------------
def temp_entries(root: Path) -> list[Path]:
    """Temporary files and folders of writers under ``root`` (ours and older ``mkstemp`` names)."""
    found = []
    for path, dirs, files in os.walk(root):
        for name in dirs + files:
            if name.startswith(".") and (".tmp-" in name or name.startswith(".checkpoint.link-")
                                         or name.endswith(".tmp")):
                found.append(Path(path) / name)
        dirs[:] = [d for d in dirs if ".tmp-" not in d]
    return found


def leftovers(root: Path, trials: int = 12, kill_every: int = 3, seed: int = 0) -> dict[str, Any]:
    """(g): a search whose every ``kill_every``-th trial is killed mid-write, plus two live writers."""
    rng = random.Random(seed)
    lay = SearchLayout.for_experiment(root, "leftovers")
    tuner = EngineProtocol.for_search(EvolutionConfig(population_size=2, seed=seed), lay, fsync=False,
                                      retention=RetentionConfig(1))
    sent: list[tuple[int, dict[str, Any]]] = []
    killed = 0
    live = [killed_writer.start("file", lay.shared_dir / "vocab-slow.json"),
            killed_writer.start("file", root / "embeddings" / "table-slow.npy")]
    try:
        for pid in range(trials):
            ready = tuner.generate_multiple_parameters([pid], st_callback=lambda p, params: sent.append((p, params)))
            pid_params = (pid, ready[0]) if ready else sent.pop(0)
            params = pid_params[1]
            if pid % kill_every == kill_every - 1:  # killed mid-publish, mid-vocabulary, mid-embedding write
                for mode, path in (("checkpoint", Path(params["save_dir"])),
                                   ("file", lay.shared_dir / f"vocab-{pid}.json"),
                                   ("file", root / "embeddings" / f"table-{pid}.npy")):
                    killed_writer.kill(killed_writer.start(mode, path, size=rng.randrange(1_000, 50_000)))
                killed += 1
                tuner.trial_end(pid_params[0], False)
                continue
            metrics = {"default": rng.random(), "indiv_id": params["indiv_id"]}
            publish_fake(params["save_dir"], params["indiv_id"], metrics, 20_000, seed=pid)
            tuner.receive_trial_result(pid_params[0], params, metrics)
            tuner.trial_end(pid_params[0], True)
        during = temp_entries(root)
        live_kept = all(any(p.name.startswith(n) for p in during) for n in (".vocab-slow.json", ".table-slow.npy"))
        tuner.close()
        # the next search start (a resume: its first request) sweeps again
        again = open_engine(EvolutionConfig(population_size=2, seed=seed), lay, fsync=False)
        again.request([trials], defer=False)
        after_start = temp_entries(root)
        again.close()
    finally:
        for proc in live:
            killed_writer.kill(proc)
    last = open_engine(EvolutionConfig(population_size=2, seed=seed), lay, fsync=False)
    last.close()  # a sweep after the slow writers died too
    return {"trials": trials, "killed_mid_write": killed, "writes_killed": 3 * killed,
            "left_after_the_ends": len(during) - 2, "live_writes_kept": live_kept,
            "left_after_next_start": len(after_start) - 2, "left_once_every_writer_is_gone": len(temp_entries(root))}


# --- (h) bad inputs to a trial ----------------------------------------------------------------
_GLOVE_19 = "".join(f"{w} " + " ".join(["0.1"] * 19) + "\n" for w in ("the", "of", "zebra"))
_INPUTS: dict[str, tuple[str, bytes | None]] = {
    "missing_train": ("--train", None),
    "truncated_train": ("--train", b'{"version": "1.1", "data": [{"title": "A", "paragraphs": ['),
    "wrong_schema": ("--train", b'{"version": "1.1", "data": {"title": "A"}}'),
    "empty_data": ("--train", b'{"version": "1.1", "data": []}'),
    "not_utf8": ("--train", b'{"version": "1.1", "data": [{"title": "caf\xe9"}]}'),
    "empty_glove": ("--glove", b""),
    "missing_glove": ("--glove", None),
    "glove_3x19": ("--glove", _GLOVE_19.encode()),
}


def bad_inputs(root: Path) -> dict[str, Any]:
    """(h): ``trial/trial.py`` as a real process on each damaged input (a few seconds each: TensorFlow loads)."""
    outcomes: dict[str, str] = {}
    for name, (flag, content) in _INPUTS.items():
        path = root / "inputs" / (f"{name}.json" if flag == "--train" else f"{name}.txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
        done = subprocess.run(
            [sys.executable, str(REPO / "trial" / "trial.py"), "--size", "tiny", "--epochs", "1", "--train-limit", "40",
             "--dev-limit", "10", "--save-dir", str(root / "inputs" / "save" / name), "--cache-dir", "",
             "--log-level", "WARNING", flag, str(path)],
            capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        ours = [line for line in done.stderr.splitlines() if str(path) in line]
        if name == "glove_3x19":
            warned = any("WARNING" in line and "right file" in line for line in ours)
            outcomes[name] = "trained, warned" if done.returncode == 0 and warned else \
                f"exit {done.returncode}, warned {warned}"
        elif done.returncode == 1 and len(ours) == 1 and ours[0].startswith("error: ") and \
                "Traceback" not in done.stderr:
            outcomes[name] = "one line"
        else:
            outcomes[name] = f"exit {done.returncode}, {'traceback' if 'Traceback' in done.stderr else 'no traceback'}"
    damaged = [n for n in outcomes if n != "glove_3x19"]
    return {"cases": len(damaged), "one_line": sum(outcomes[n] == "one line" for n in damaged),
            "tracebacks": sum("traceback" in outcomes[n] and "no traceback" not in outcomes[n] for n in damaged),
            "glove_3x19": outcomes["glove_3x19"], "outcomes": outcomes}


# --- (i) retention with real tiny trials -------------------------------------------------------
def retention(root: Path, trials: int = 24, kill_every: int = 6, population: int = 3, seed: int = 0) -> dict[str, Any]:
    """(i): ``keep: 1`` over ``trials`` real tiny trials, one in ``kill_every`` killed mid-publish."""
    from ga_squad.reader.checkpoint import CheckpointCorrupt, read_checkpoint
    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.reader.training import configure_tensorflow, run_trial
    from ga_squad.store.contract import TrialParams
    from ga_squad.sim.driver import run_sequential

    configure_tensorflow(1, 1, True)
    data_cfg = DataConfig(str(REPO / "data" / "squad_train_sample.json"), str(REPO / "data" / "squad_dev_sample.json"),
                          glove_path=str(REPO / "data" / "glove.sample.50d.txt"), max_passage_len=100,
                          train_limit=120, dev_limit=40, val_limit=40)
    data = load_dataset(data_cfg, root / "cache")
    model_cfg = ModelConfig.tiny()
    if data.embeddings is not None:
        model_cfg = dataclasses.replace(model_cfg, word_dim=int(data.embeddings.shape[1]))
    lay = SearchLayout.for_experiment(root, "retention")
    config = EvolutionConfig(population_size=population, tournament_size=2, min_layers=1, max_layers=6,
                             initial_mutations=1, seed=seed)
    tuner = EngineProtocol.for_search(config, lay, retention=RetentionConfig(1))
    violations: list[str] = []
    samples: list[dict[str, int]] = []
    count = {"n": 0, "killed": 0, "children": 0, "warm": 0}
    pinned: set[int] = set()  # parents of killed children: without job ids their end is attributed by form

    def sample() -> None:
        temps = temp_entries(root)
        weights = [d for d in lay.individual_dirs() if (where := store.resolve(d)) is not None
                   and (where / "weights.h5").is_file()]
        samples.append({"bytes": store.disk_usage(root), "temp_entries": len(temps),
                        "temp_bytes": sum(store.disk_usage(p) for p in temps), "weight_sets": len(weights),
                        "weight_bytes": sum(store.disk_usage(store.resolve(d)) for d in weights)})

    def trial(raw: dict[str, Any]) -> dict[str, Any]:
        count["n"] += 1
        params = TrialParams.from_dict(raw)
        if params.restore_dir is not None:
            try:
                read_checkpoint(params.restore_dir)
            except CheckpointCorrupt as exc:
                violations.append(f"individual {params.indiv_id}: parent {params.parent_id} unreadable: {exc}")
        if count["n"] % kill_every == 0:  # killed mid-publish (and mid-writes in the shared folders)
            count["killed"] += 1
            if params.parent_id is not None:
                pinned.add(params.parent_id)
            for mode, path in (("checkpoint", Path(params.save_dir)),
                               ("file", lay.shared_dir / f"vocab-{params.indiv_id}.json"),
                               ("file", root / "embeddings" / f"table-{params.indiv_id}.npy")):
                killed_writer.kill(killed_writer.start(mode, path, size=200_000))
            sample()
            raise RuntimeError("killed")
        result = run_trial(params, data, model_cfg, TrainConfig(epochs=1, batch_size=32),
                           embedding_store=root / "embeddings")
        count["children"] += params.restore_dir is not None
        count["warm"] += bool(result["warm_start"])
        sample()
        return result

    started = time.perf_counter()
    run_sequential(tuner, trial, trials, timeout=3600)
    stats = tuner.stats()
    tuner.close()
    sample()
    # retention keeps the population, the running child's parent, the top 1, and the parents of children
    # failed by an end attributed by its form (they may still run: ga_squad.store.retention)
    keep_bound = population + 1 + 1 + len(pinned)
    return {"trials": trials, "trained": trials - count["killed"], "killed_mid_publish": count["killed"],
            "reported": stats.reported, "pruned": stats.pruned, "children": count["children"],
            "children_warm_started": count["warm"], "parent_violations": len(violations),
            "violation_examples": violations[:3], "max_weight_sets": max(s["weight_sets"] for s in samples),
            "weight_set_bound": keep_bound, "pinned_by_uncertain_ends": len(pinned), "max_bytes": max(s["bytes"] for s in samples),
            "max_weight_bytes": max(s["weight_bytes"] for s in samples),
            "max_checkpoint_bytes": max(s["weight_bytes"] // max(s["weight_sets"], 1) for s in samples),
            "final_bytes": samples[-1]["bytes"], "max_temp_entries": max(s["temp_entries"] for s in samples),
            "max_temp_bytes": max(s["temp_bytes"] for s in samples), "final_temp_entries": samples[-1]["temp_entries"],
            "bytes_after_each_trial": [s["bytes"] for s in samples], "seconds": round(time.perf_counter() - started, 1)}

