"""Read a user's NNI experiment YAML with NNI's own config classes; decide what ``run`` submits.

The docs promise (docs/usage.md, "Using nnictl directly") that ``config.yml``
is an ordinary NNI file, so ``python -m ga_squad run`` submits that file:
every key as written, checked by NNI 3.0's ``ExperimentConfig`` (the classes
``nnictl create`` loads it with). Only what depends on where the file and this
environment are is rewritten, each change reported as an :class:`Override`:

* relative paths NNI resolves against the config file's folder
  (``trialCodeDirectory``, ``tuner.codeDirectory``, ...) become absolute,
  because the submitted copy is written to another folder;
* ``experimentWorkingDirectory`` becomes absolute (NNI's default when unset);
* the tuner's ``save_dir_root`` becomes absolute the way the tuner resolves it
  (relative to the repository root);
* on the local platform, a leading ``python`` in ``trialCommand`` becomes this
  environment's interpreter.

The port is not part of the file; it goes to ``nnictl create --port``.
Everything else (``trialGpuNumber``, ``maxTrialDuration``, ``assessor``,
``useActiveGpu``, remote machines, ``sharedStorage``, ...) is submitted unchanged.

A config whose ``trialCommand`` script is not in ``trialCodeDirectory`` is
refused (every trial would fail); :attr:`LaunchConfig.warnings` names what NNI
accepts but cannot go as intended (a ``maxTrialNumber`` that never reaches a child).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import shlex
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nni.experiment.config import ExperimentConfig
from nni.experiment.config import utils as nni_utils
from nni.experiment.config.base import ConfigBase

from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.settings import REPO_ROOT, ClassArgsError, resolve_storage_root, validate_class_args

__all__ = ["ConfigError", "LaunchConfig", "Override", "check_port_free", "load_launch_config"]

NNI_DEFAULT_WORKING_DIRECTORY = "~/nni-experiments"
DEFAULT_POPULATION = next(f.default for f in dataclasses.fields(EvolutionConfig) if f.name == "population_size")
OUR_TUNER = "GaSquadTuner"
_PYTHON = re.compile(r"^(\s*)(python(?:3(?:\.\d+)?)?)(?=\s|$)")


class ConfigError(ValueError):
    """The experiment YAML cannot be launched as written (one-line message naming the key)."""


@dataclass(frozen=True)
class Override:
    """One value ``run`` changed in the user's config, and why."""

    key: str
    old: Any
    new: Any
    reason: str

    def __str__(self) -> str:
        old = "(unset)" if self.old is None else self.old
        return f"override {self.key}: {old} -> {self.new} ({self.reason})"


@dataclass(frozen=True)
class LaunchConfig:
    """The config ``run`` submits, with the overrides that made it from the user's file.

    Attributes:
        source: The user's YAML file.
        config: The mapping written for ``nnictl create`` (the user's keys, as written).
        overrides: What was changed, in order.
        env: Extra environment for ``nnictl`` (tests point HOME elsewhere).
    """

    source: Path
    config: Mapping[str, Any]
    overrides: tuple[Override, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def get(self, *names: str) -> Any:
        """The value at a key path, NNI-style case-insensitive (``"tuner", "classArgs"``)."""
        return _lookup(self.config, *names)

    @property
    def working_directory(self) -> Path:
        return Path(self.get("experimentWorkingDirectory"))

    @property
    def storage_root(self) -> Path | None:
        """The tuner's ``save_dir_root`` (None for another tuner)."""
        root = (self.get("tuner", "classArgs") or {}).get("save_dir_root") if self.is_ga_squad else None
        return None if root is None else Path(root)

    @property
    def is_ga_squad(self) -> bool:
        return _is_ga_squad(self.config)

    @property
    def platforms(self) -> set[str]:
        """The training services' platforms (``{"local"}``, ``{"remote"}``...)."""
        return _platforms(self.config)

    @property
    def max_trial_number(self) -> int | None:
        return self.get("maxTrialNumber")

    @property
    def max_duration_s(self) -> float | None:
        """``maxExperimentDuration`` in seconds (None: unbounded)."""
        value = self.get("maxExperimentDuration")
        return None if value is None else float(nni_utils.parse_time(value))

    @property
    def warnings(self) -> tuple[str, ...]:
        """What NNI accepts but will not go as a user expects (``run`` prints each before launching)."""
        notes = []
        trials = self.max_trial_number
        if self.is_ga_squad and isinstance(trials, int):
            population = (self.get("tuner", "classArgs") or {}).get("population_size", DEFAULT_POPULATION)
            if trials <= population:
                notes.append(f"maxTrialNumber {trials} <= population_size {population}: every trial is a cold "
                             f"start filling the population, so this search will never produce a child "
                             f"(raise maxTrialNumber above population_size, or lower population_size)")
        return tuple(notes)

    def to_config(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.config))

    def to_yaml(self) -> str:
        """Exactly what :meth:`write_config` writes."""
        return yaml.safe_dump(self.to_config(), sort_keys=False, default_flow_style=False, width=1 << 20)

    def write_config(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_yaml(), encoding="utf-8")
        return path


def load_launch_config(path: Path, env: Mapping[str, str] | None = None, check_gpu: bool = True) -> LaunchConfig:
    """Read, validate with NNI's classes, and apply ``run``'s overrides.

    Args:
        path: The user's YAML.
        env: Extra environment for ``nnictl``.
        check_gpu: Refuse ``trialGpuNumber`` > 0 on a local machine without a GPU.

    Raises:
        ConfigError: naming the file, the key and the problem, in one line.
    """
    path = Path(path).resolve()
    raw = _read_yaml(path)
    _check_platforms(raw, path)
    base = path.parent
    original = _nni_config(raw, base, path)
    submitted = copy.deepcopy(raw)
    overrides: list[Override] = []
    _absolute_paths(submitted, original, base, "", overrides)
    _working_directory(submitted, base, overrides)
    if _is_ga_squad(submitted):
        _tuner_class_args(submitted, path, overrides)
    if _platforms(submitted) == {"local"}:
        _interpreter(submitted, overrides)
    _nni_config(submitted, base, path, validate=True)
    launch = LaunchConfig(path, submitted, tuple(overrides), dict(env or {}))
    if check_gpu:
        _check_gpu(launch, path)
    _check_trial_script(submitted, path)
    return launch


def check_port_free(port: int) -> None:
    """Refuse a port something already answers on (NNI's own test, done before launching)."""
    with socket.socket() as sock:
        busy = sock.connect_ex(("localhost", port)) == 0
    if busy:
        raise ConfigError(f"--port {port} is busy (another NNI experiment or program listens there); "
                          f"pick another port or omit --port to get a free one")


# --- reading and NNI's validation ---------------------------------------------------
def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"experiment config {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path.name} is not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path} is not UTF-8 text (line {line}, byte {exc.start}): {exc.reason}; "
                          "save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"experiment config {path} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name} must hold a YAML mapping of NNI config keys, got {type(raw).__name__}")
    return raw


def _training_services(raw: Mapping[str, Any]) -> list[Any]:
    key = _key(raw, "trainingService")
    services = raw.get(key) if key else None
    return services if isinstance(services, list) else [services]


def _platforms(raw: Mapping[str, Any]) -> set[str]:
    return {s.get(_key(s, "platform") or "platform") for s in _training_services(raw) if isinstance(s, dict)}


def _check_platforms(raw: Mapping[str, Any], path: Path) -> None:
    """NNI's own messages for these two are not about the key (``'dict' object has no attribute``)."""
    for service in _training_services(raw):
        if not isinstance(service, dict) or _key(service, "platform") is None:
            raise ConfigError(f"{path.name}: trainingService.platform is not set (e.g. platform: local)")
        platform = service[_key(service, "platform")]
        try:
            nni_utils.training_service_config_factory(platform)
        except ValueError:
            raise ConfigError(f"{path.name}: trainingService.platform {platform!r} is not an NNI 3.0 platform") \
                from None


def _nni_config(raw: Mapping[str, Any], base: Path, path: Path, validate: bool = False) -> ExperimentConfig:
    """``ExperimentConfig(**raw)`` with NNI's base path set, as ``ExperimentConfig.load`` does."""
    nni_utils.set_base_path(base)
    try:
        config = ExperimentConfig(**copy.deepcopy(dict(raw)))
        if validate:
            config.validate()
        return config
    except (AttributeError, TypeError, ValueError, AssertionError) as exc:
        raise ConfigError(f"{path.name}: {_nni_message(exc, raw)}") from None
    finally:
        nni_utils.unset_base_path()


def _nni_message(exc: BaseException, raw: Mapping[str, Any]) -> str:
    """NNI's message on one line; a bare ``assert`` is named by its source line, unknown keys as written."""
    text = " ".join(str(exc).split())
    if not text and isinstance(exc, AssertionError):
        frames = traceback.extract_tb(exc.__traceback__)
        text = f"NNI's check `{frames[-1].line}` failed" if frames else "NNI's check failed"
    unknown = re.fullmatch(r"(\w+) does not have field\(s\) (.+)", text)
    if unknown:
        spelled = dict(_key_paths(raw))
        keys = ", ".join(spelled.get(k.strip(), k.strip()) for k in unknown.group(2).split(","))
        return f"unknown key {keys} (NNI 3.0's {unknown.group(1)} has no such field)"
    return text


def _key_paths(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(NNI's lower-cased name, the key path as the user wrote it) for every key in ``node``."""
    items = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        name = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}{'.' if prefix else ''}{key}"
        if isinstance(key, str):
            yield nni_utils.case_insensitive(key), name
        yield from _key_paths(value, name)


# --- the overrides --------------------------------------------------------------------
def _key(mapping: Mapping[str, Any], name: str) -> str | None:
    """The key of ``mapping`` that NNI reads as ``name`` (case and underscores ignored)."""
    wanted = nni_utils.case_insensitive(name)
    return next((k for k in mapping if isinstance(k, str) and nni_utils.case_insensitive(k) == wanted), None)


def _lookup(node: Any, *names: str) -> Any:
    for name in names:
        key = _key(node, name) if isinstance(node, Mapping) else None
        if key is None:
            return None
        node = node[key]
    return node


def _is_ga_squad(config: Mapping[str, Any]) -> bool:
    return str(_lookup(config, "tuner", "className") or "").endswith(OUR_TUNER)


def _absolute_paths(raw: dict[str, Any], config: ConfigBase, base: Path, prefix: str,
                    overrides: list[Override]) -> None:
    """Make the relative paths NNI types as ``PathLike`` absolute, as NNI would resolve them."""
    fields = {nni_utils.case_insensitive(f.name): f for f in dataclasses.fields(config)}
    for key, value in raw.items():
        spec = fields.get(nni_utils.case_insensitive(str(key)))
        if spec is None:
            continue
        attr = getattr(config, spec.name)
        name = f"{prefix}{key}"
        if isinstance(value, str) and nni_utils.is_path_like(spec.type) and \
                not os.path.isabs(os.path.expanduser(value)):
            raw[key] = nni_utils.resolve_path(value, base)
            overrides.append(Override(name, value, raw[key], "relative to the config file, as nnictl resolves it"))
        elif isinstance(value, dict) and isinstance(attr, ConfigBase):
            _absolute_paths(value, attr, base, f"{name}.", overrides)
        elif isinstance(value, list) and isinstance(attr, list):
            for index, (item, item_attr) in enumerate(zip(value, attr)):
                if isinstance(item, dict) and isinstance(item_attr, ConfigBase):
                    _absolute_paths(item, item_attr, base, f"{name}[{index}].", overrides)


def _working_directory(raw: dict[str, Any], base: Path, overrides: list[Override]) -> None:
    key = _key(raw, "experimentWorkingDirectory")
    if key is None:
        raw["experimentWorkingDirectory"] = nni_utils.resolve_path(NNI_DEFAULT_WORKING_DIRECTORY, base)
        overrides.append(Override("experimentWorkingDirectory", None, raw["experimentWorkingDirectory"],
                                  "NNI's default, made explicit"))
    elif raw[key] != nni_utils.resolve_path(raw[key], base):
        old, raw[key] = raw[key], nni_utils.resolve_path(raw[key], base)
        overrides.append(Override(key, old, raw[key], "absolute"))


def _tuner_class_args(raw: dict[str, Any], path: Path, overrides: list[Override]) -> None:
    """Check GaSquadTuner's classArgs before launching, and make ``save_dir_root`` absolute."""
    tuner = raw[_key(raw, "tuner")]
    args_key = _key(tuner, "classArgs")
    class_args = tuner.get(args_key) if args_key else None
    try:
        validate_class_args(dict(class_args or {}))
    except ClassArgsError as exc:
        raise ConfigError(f"tuner classArgs {exc} ({path.name})") from None
    old = class_args["save_dir_root"]
    new = str(resolve_storage_root(old))
    if new != old:
        class_args["save_dir_root"] = new
        overrides.append(Override(f"tuner.{args_key}.save_dir_root", old, new,
                                  "the tuner resolves it relative to the repository root"))


def _interpreter(raw: dict[str, Any], overrides: list[Override]) -> None:
    """A leading ``python`` in ``trialCommand`` runs under this environment's interpreter."""
    key = _key(raw, "trialCommand")
    command = raw.get(key) if key else None
    if not isinstance(command, str) or not _PYTHON.match(command):
        return
    new = _PYTHON.sub(lambda m: m.group(1) + sys.executable, command, count=1)
    raw[key] = new
    overrides.append(Override(key, _PYTHON.match(command).group(2), sys.executable,
                              "this environment's interpreter runs the trials"))


def _check_trial_script(raw: Mapping[str, Any], path: Path) -> None:
    """A trial script missing from ``trialCodeDirectory`` would fail every trial, one by one.

    Typical cause: a copy of ``config.yml`` outside the repository, whose
    ``trialCodeDirectory: .`` now names the copy's folder.
    """
    command, code_dir = _lookup(raw, "trialCommand"), _lookup(raw, "trialCodeDirectory")
    if not isinstance(command, str) or not isinstance(code_dir, str):
        return
    try:
        script = next((arg for arg in shlex.split(command) if arg.endswith(".py")), None)
    except ValueError:
        return
    if script is None or os.path.isabs(os.path.expanduser(script)) or (Path(code_dir) / script).is_file():
        return
    raise ConfigError(f"{path.name}: trialCommand runs {script}, which is not in trialCodeDirectory {code_dir} "
                      f"(relative paths are relative to the config file); set trialCodeDirectory and "
                      f"tuner.codeDirectory to the repository, {REPO_ROOT}")


# --- the machine --------------------------------------------------------------------------
def _check_gpu(launch: LaunchConfig, path: Path) -> None:
    """A local experiment asking for GPUs on a machine without one would never start a trial."""
    if _platforms(launch.config) != {"local"}:
        return
    for where, value in (("trialGpuNumber", launch.get("trialGpuNumber")),
                         ("trainingService.trialGpuNumber", launch.get("trainingService", "trialGpuNumber"))):
        if isinstance(value, int) and value > 0 and visible_gpus() == 0:
            raise ConfigError(f"{path.name}: {where} is {value} but this machine has no GPU "
                              f"(nvidia-smi finds none); set {where}: 0 or run on a GPU machine")


def visible_gpus() -> int:
    """GPUs ``nvidia-smi -L`` lists (what NNI's local GPU scheduler sees); 0 without the tool."""
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if done.returncode != 0:
        return 0
    return sum(1 for line in done.stdout.splitlines() if line.startswith("GPU "))
