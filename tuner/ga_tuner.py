"""NNI tuner for ga-squad: a thin adapter around :class:`ga_squad.store.engine.SearchEngine`.

Use it in an NNI experiment config (the repository root as code directory)::

    tuner:
      codeDirectory: /path/to/ga-squad
      className: tuner.ga_tuner.GaSquadTuner
      classArgs:
        optimize_mode: maximize
        population_size: 32
        save_dir_root: /shared/ga-squad     # every trial machine must see it
        min_layers: 1
        max_layers: 12
        seed: 0
        keep: all                           # or k: keep population + parents in use + top-k weights
        # the rest, with their defaults: ga_squad.store.settings.TunerSettings

(``codeDirectory: .../tuner`` with ``className: ga_tuner.GaSquadTuner`` works
too: ``ga_squad`` and ``tuner`` come from the package install, ``make setup``'s
``pip install -e .``.)

Each trial receives the JSON contract of :class:`ga_squad.store.contract.TrialParams`
(``indiv_id``, ``parent_id``, ``graph``, ``restore_dir``, ``save_dir``,
``shared_ids``, ``mutation``, ``seed``) and must report a final result that is
a number or a dict with a numeric ``default`` (e.g. ``{"default": f1, "f1": f1,
"em": em}``) after its checkpoint is complete in ``save_dir``.

Threading (NNI 3.0): the dispatcher runs ``generate_multiple_parameters`` and
``receive_trial_result`` on its default command thread and ``trial_end`` on its
assessor thread. The engine serialises both under one lock. The protocol
methods themselves (deferral, ``st_callback`` emission) live in
:class:`ga_squad.store.protocol.EngineProtocol`, shared with the in-process
simulations; this class only turns ``classArgs`` into an engine.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import nni
from nni.runtime import msg_dispatcher
from nni.runtime.tuner_command_channel import CommandType
from nni.tuner import Tuner

from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import EngineProtocol, open_engine
from ga_squad.store.settings import TunerSettings, resolve_storage_root

_logger = logging.getLogger(__name__)

__all__ = ["GaSquadTuner", "resolve_experiment_id", "resolve_storage_root"]


def nni_trial_job_id(depth: int = 4) -> str | None:
    """The trial job id of the ``trial_end`` NNI 3.0's dispatcher is delivering, or None.

    ``MsgDispatcher.handle_trial_end`` has it (``data["trial_job_id"]``) but
    calls ``tuner.trial_end(parameter_id, success)`` without it, and the
    parameter id it passes is the trial's *form*, which NNI's local service
    may have swapped with another trial's. With the job id the engine
    attributes the end by what the trial really ran (its result). Read from
    the caller's frame; any other caller (or NNI version) gets None and the
    engine falls back on the form.
    """
    frame = sys._getframe(1)
    for _ in range(depth):
        frame = frame.f_back
        if frame is None:
            return None
        if frame.f_code.co_name == "handle_trial_end":
            data = frame.f_locals.get("data")
            job = data.get("trial_job_id") if isinstance(data, dict) else None
            return job if isinstance(job, str) else None
    return None


def nni_result_queued(trial_job_id: str | None, depth: int = 4) -> bool:
    """Whether NNI 3.0's dispatcher holds ``trial_job_id``'s final result, queued but not yet delivered.

    The manager sends a trial's final metric before its end over one
    websocket, but the dispatcher queues them for two threads (results on the
    default one, ends on the assessor one), so the end can be handled first.
    Found in the ``MsgDispatcher`` of the calling ``handle_trial_end`` frame;
    with it the engine waits for that result instead of declaring a failure
    the result would undo. Any other caller (or NNI version) gets False.
    """
    if trial_job_id is None:
        return False
    frame = sys._getframe(1)
    for _ in range(depth):
        frame = frame.f_back
        if frame is None:
            return False
        if frame.f_code.co_name == "handle_trial_end":
            queue = getattr(frame.f_locals.get("self"), "default_command_queue", None)
            break
    else:
        return False
    if queue is None or not hasattr(queue, "mutex"):
        return False
    with queue.mutex:
        waiting = list(queue.queue)
    for command, data in waiting:
        if (command == CommandType.ReportMetricData and isinstance(data, dict) and data.get("type") == "FINAL"
                and data.get("trial_job_id") == trial_job_id
                and data.get("parameter_id") in msg_dispatcher._trial_params
                and data.get("parameter_id") not in msg_dispatcher._customized_parameter_ids):
            return True
    return False



def resolve_experiment_id(explicit: str | None = None) -> str:
    """The id of the running NNI experiment, as seen from the tuner process.

    NNI 3.0 does not give the dispatcher ``NNI_EXP_ID`` (only trials get it),
    so after an explicit value, ``NNI_EXP_ID`` and ``nni.get_experiment_id()``
    the id is taken from the experiment's own directory, which NNI passes as
    ``NNI_CHECKPOINT_DIRECTORY``/``NNI_LOG_DIRECTORY`` =
    ``<experimentWorkingDirectory>/<experiment id>/{checkpoint,log}``. Outside
    NNI the id is ``standalone``.
    """
    if explicit:
        return explicit
    if os.environ.get("NNI_EXP_ID"):
        return os.environ["NNI_EXP_ID"]
    get_id = getattr(nni, "get_experiment_id", None)  # absent in the dispatcher process
    from_sdk = get_id() if get_id is not None else None
    if from_sdk and from_sdk != "STANDALONE":
        return from_sdk
    for variable in ("NNI_CHECKPOINT_DIRECTORY", "NNI_LOG_DIRECTORY"):
        value = os.environ.get(variable)
        if value:
            return Path(value).resolve().parent.name
    return "standalone"


class GaSquadTuner(EngineProtocol, Tuner):
    """Regularized evolution over reader graphs with parent-gated, never-blocking dispatch.

    Args:
        **class_args: The config's ``classArgs``: the fields of
            :class:`ga_squad.store.settings.TunerSettings` (``save_dir_root`` is
            required; the rest have its defaults).

    Raises:
        ClassArgsError: naming the first bad key (before anything is written).
        ExperimentLocked: if another live tuner holds the experiment folder.
    """

    def __init__(self, **class_args: Any) -> None:
        # The same check `ga-squad run` makes before launching; here it covers
        # `nnictl create` too (the message lands in dispatcher.log).
        self.settings = TunerSettings.from_class_args(class_args)
        self.config = self.settings.evolution()
        self.experiment_id = resolve_experiment_id(self.settings.experiment_id)
        self.layout = SearchLayout.for_experiment(self.settings.storage_root(), self.experiment_id)
        self.retention = self.settings.retention()
        space = self.settings.space()
        strategy = None if space is None else space.strategy(self.config)
        engine = open_engine(self.config, self.layout, strategy=strategy, retention=self.retention)
        EngineProtocol.__init__(self, engine, no_trial_error=nni.NoMoreTrialError)
        _logger.info(
            "GaSquadTuner: experiment %s, journal %s, %s (session %d)",
            self.experiment_id, self.layout.journal_path, self.config, self.engine.session,
        )

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        kwargs.setdefault("trial_job_id", nni_trial_job_id())
        kwargs.setdefault("result_in_flight", nni_result_queued(kwargs["trial_job_id"]))
        EngineProtocol.trial_end(self, parameter_id, success, **kwargs)

    def load_checkpoint(self) -> None:
        """Nothing to load: the engine rebuilt itself from the journal at construction."""
        _logger.info("resume: state restored from %s (session %d)", self.layout.journal_path, self.engine.session)

    def save_checkpoint(self) -> None:
        """Nothing to save: every event is already in the journal."""

    def _on_exit(self) -> None:
        _logger.info("GaSquadTuner exiting: %s", self.engine.stats())
        self.engine.close()

    def _on_error(self) -> None:
        self.engine.close()
