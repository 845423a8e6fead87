"""Dispatch benchmark: worker utilization and tuner latency.

(a) Utilization = busy worker-seconds / (concurrency x wall) of a simulated
    search (1,000 trials, random durations, concurrency 8) for the ga-squad tuner protocol
    and for the naive policy "pick any population member as parent and wait
    for it" (what a tuner that ignores whether a parent has reported does).
(b) Latency of one generate + receive cycle of the ga-squad tuner protocol in steady state
    at population 100 and 1,000 (median and p99), with the journal fsynced
    per step (production) and only flushed.

Targets (issue 2): utilization >= 0.97; generate+receive median <= 1 ms at
population 1,000.

Usage: python benchmarks/dispatch.py [--trials 1000] [--concurrency 8] [--seed 0]

Writes its figures to ``results/dispatch.json`` (see ``benchmarks/bench_json.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from ga_squad.sim.driver import DriverConfig, SimulationResult, TrialOutcome, parents_reported_first, simulate  # noqa: E402
from ga_squad.search.evolution import EvolutionConfig  # noqa: E402
from ga_squad.store.paths import SearchLayout  # noqa: E402
from ga_squad.store.protocol import EngineProtocol  # noqa: E402
from benchmarks.bench_json import write_result  # noqa: E402


@dataclass(frozen=True)
class BenchConfig:
    trials: int
    concurrency: int
    populations: tuple[int, ...]
    latency_populations: tuple[int, ...]
    latency_cycles: int
    seed: int
    min_duration: float
    max_duration: float


class NaiveTuner:
    """Baseline: parent = a uniformly random member of the last P *generated*
    individuals, reported or not; a request waits until that parent reports.

    Speaks the same NNI protocol (deferred requests go out via st_callback)
    with minimal parameters, so only the dispatch policy differs.
    """

    def __init__(self, population_size: int, seed: int) -> None:
        self.population_size = population_size
        self.rng = random.Random(seed)
        self.members: deque[int] = deque(maxlen=population_size)
        self.reported: set[int] = set()
        self.waiting_on: dict[int, list[int]] = {}  # parent id -> parameter ids waiting
        self.by_parameter: dict[int, int] = {}
        self.next_id = 0
        self.send: Callable[[int, Any], None] | None = None

    def _new(self, pid: int, parent: int | None) -> dict[str, Any]:
        indiv = self.next_id
        self.next_id += 1
        self.members.append(indiv)
        self.by_parameter[pid] = indiv
        return {"indiv_id": indiv, "parent_id": parent}

    def _serve(self, pid: int) -> dict[str, Any] | None:
        if self.next_id < self.population_size:
            return self._new(pid, None)
        parent = self.rng.choice(list(self.members))
        if parent in self.reported:
            return self._new(pid, parent)
        self.waiting_on.setdefault(parent, []).append(pid)
        return None

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
        self.send = kwargs.get("st_callback", self.send)
        out: list[Any] = []
        for pid in parameter_id_list:
            params = self._serve(pid)
            if params is None:
                continue
            if len(out) == parameter_id_list.index(pid):
                out.append(params)  # still a prefix of the ids: return it
            else:
                assert self.send is not None
                self.send(pid, params)
        return out

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        indiv = self.by_parameter[parameter_id]
        self.reported.add(indiv)
        assert self.send is not None
        for pid in self.waiting_on.pop(indiv, []):
            self.send(pid, self._new(pid, indiv))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        pass


def make_trial(seed: int, low: float, high: float) -> Callable[[Mapping[str, Any]], TrialOutcome]:
    rng = random.Random(seed)

    def trial(params: Mapping[str, Any]) -> TrialOutcome:
        return TrialOutcome(rng.uniform(low, high), {"default": rng.random()})

    return trial


def in_process_tuner(workdir: Path, experiment_id: str, population: int, seed: int, fsync: bool) -> EngineProtocol:
    """The tuner protocol NNI's adapter runs, with the adapter's default classArgs."""
    config = EvolutionConfig(population_size=population, seed=seed)
    return EngineProtocol.for_search(config, SearchLayout.for_experiment(workdir, experiment_id), fsync=fsync)


def utilization(cfg: BenchConfig, population: int, workdir: Path) -> tuple[SimulationResult, SimulationResult]:
    driver = DriverConfig(concurrency=cfg.concurrency, max_trials=cfg.trials)
    ours = in_process_tuner(workdir, f"util-{population}", population, cfg.seed, fsync=False)
    ga = simulate(ours, make_trial(cfg.seed, cfg.min_duration, cfg.max_duration), driver)
    ours.close()
    assert not parents_reported_first(ga), "a child was dispatched before its parent reported"
    naive = simulate(NaiveTuner(population, cfg.seed),
                     make_trial(cfg.seed, cfg.min_duration, cfg.max_duration), driver)
    return ga, naive


def latency(population: int, cycles: int, seed: int, fsync: bool, workdir: Path) -> list[float]:
    """Seconds per generate+receive cycle once the population is full."""
    tuner = in_process_tuner(workdir, f"lat-{population}-{int(fsync)}", population, seed, fsync=fsync)
    rng = random.Random(seed)
    emitted: list[tuple[int, Any]] = []

    def send(pid: int, params: Any) -> None:
        emitted.append((pid, params))

    pid = 0
    for _ in range(population):  # fill: P cold starts, all reported
        params = tuner.generate_multiple_parameters([pid], st_callback=send)[0]
        tuner.receive_trial_result(pid, params, {"default": rng.random()})
        tuner.trial_end(pid, True)
        pid += 1
    times: list[float] = []
    for _ in range(cycles):
        start = time.perf_counter()
        params = tuner.generate_multiple_parameters([pid], st_callback=send)[0]
        tuner.receive_trial_result(pid, params, {"default": rng.random(), "f1": 0.5})
        times.append(time.perf_counter() - start)
        tuner.trial_end(pid, True)
        pid += 1
    tuner.close()
    assert not emitted
    return times


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(cfg: BenchConfig) -> int:
    ok = True
    figures: dict[str, Any] = {"utilization": {}, "latency_ms": {}}
    with tempfile.TemporaryDirectory(prefix="ga-dispatch-") as tmp:
        workdir = Path(tmp)
        print(f"(a) worker utilization: {cfg.trials} trials, concurrency {cfg.concurrency}, "
              f"durations U({cfg.min_duration:g}, {cfg.max_duration:g}) s (simulated clock)")
        print(f"    {'population':>10} {'ga-squad':>10} {'naive':>10} {'ratio':>7} {'ga wall':>9} {'naive wall':>11}")
        for population in cfg.populations:
            started = time.perf_counter()
            ga, naive = utilization(cfg, population, workdir)
            ok &= ga.utilization >= 0.97
            figures["utilization"][str(population)] = {"ga_squad": ga.utilization, "naive": naive.utilization}
            print(f"    {population:>10} {ga.utilization:>10.4f} {naive.utilization:>10.4f} "
                  f"{ga.utilization / naive.utilization:>7.2f} {ga.wall:>9.1f} {naive.wall:>11.1f}"
                  f"   ({time.perf_counter() - started:.1f} s to simulate)")
        print()
        print(f"(b) generate+receive latency, steady state, {cfg.latency_cycles} cycles")
        print(f"    {'population':>10} {'journal':>14} {'median ms':>10} {'p99 ms':>8}")
        for population in cfg.latency_populations:
            for fsync in (True, False):
                times = latency(population, cfg.latency_cycles, cfg.seed, fsync, workdir)
                median, p99 = statistics.median(times) * 1e3, percentile(times, 0.99) * 1e3
                label = "fsync per step" if fsync else "flush only"
                if population == max(cfg.latency_populations) and fsync:
                    ok &= median <= 1.0
                print(f"    {population:>10} {label:>14} {median:>10.3f} {p99:>8.3f}")
                figures["latency_ms"].setdefault(str(population), {})["fsync" if fsync else "flush"] = {
                    "median": median, "p99": p99}
    print()
    print("targets: utilization >= 0.97; median <= 1 ms at population 1,000 (fsync per step):",
          "MET" if ok else "NOT MET")
    figures["targets_met"] = bool(ok)
    write_result("dispatch", figures, dataclasses.asdict(cfg))
    return 0


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--populations", type=int, nargs="+", default=[8, 32, 100])
    parser.add_argument("--latency-populations", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--latency-cycles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-duration", type=float, default=60.0)
    parser.add_argument("--max-duration", type=float, default=600.0)
    args = parser.parse_args(argv)
    return BenchConfig(args.trials, args.concurrency, tuple(args.populations),
                       tuple(args.latency_populations), args.latency_cycles, args.seed,
                       args.min_duration, args.max_duration)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(parse_args()))
