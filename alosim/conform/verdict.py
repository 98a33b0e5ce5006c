"""alosim's prediction of a measured scenario, and the verdict.

The prediction is the scenario simulated over several seeds (``messages`` set
to what was played), each figure's mean and standard error across the seeds.
A measured figure's standard error comes from the run itself: duplicates
per message from the spread of the per-message counts, the dead-lettered
fraction as a binomial proportion, duplicates per crash from the spread of
the per-crash counts.

The verdict on one figure: ``|real - alosim| <= 3 * se + allowance``, with
``se`` the standard error of the difference (the two are independent) and
``allowance`` the change in alosim's prediction when each delivery reaches
the consumer later by the timer overshoot measured during the run (in
scenario time: the consume data latency becomes a constant of its mean plus
the overshoot, same seeds). A consumer whose timers fire late holds each
delivery longer than the scenario says; the allowance is what that alone
would move the figure by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from alosim.conform.plan import Plan
from alosim.conform.play import Measurement
from alosim.scenario import LinkSpec, Scenario

#: Standard errors of the difference within which a figure agrees.
Z = 3.0

#: A run whose consumer timers fired later than this fraction of the lease for 1 % of the
#: deliveries (the 99th percentile of the processing sleeps' overshoot) did not play the
#: scenario: the machine was too busy, and the verdict is withheld.
BUSY_FRACTION = 0.4


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float


@dataclass(frozen=True)
class Figure:
    """One figure, measured and predicted."""

    name: str
    real: Estimate
    simulated: Estimate
    allowance: float

    @property
    def difference(self) -> float:
        return self.real.value - self.simulated.value

    @property
    def se(self) -> float:
        return math.hypot(self.real.se, self.simulated.se)

    @property
    def bound(self) -> float:
        """The largest difference that still agrees."""
        return Z * self.se + self.allowance

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= self.bound


@dataclass(frozen=True)
class Comparison:
    """A measurement held to alosim's prediction."""

    scenario: str
    broker_url: str
    plan: Plan
    measurement: Measurement
    figures: tuple[Figure, ...]
    seeds: int
    overshoot_s: float  # the overshoot the allowance is computed for (real seconds)

    @property
    def agrees(self) -> bool:
        return all(f.agrees for f in self.figures)

    @property
    def too_busy(self) -> str | None:
        """Why the run did not play the scenario (timers far too late), or None."""
        p99_s = self.measurement.processing_overshoot.p99_s
        if p99_s > BUSY_FRACTION * self.plan.lease_s:
            return (f"timers ran late: 1 % of the processing sleeps overshot by {p99_s * 1000:.0f}ms "
                    f"or more, over {BUSY_FRACTION:.0%} of the {self.plan.lease_s * 1000:g}ms lease")
        return None

    @property
    def verdict(self) -> str:
        """``agrees``, ``differs``, or ``inconclusive`` (the machine was too busy)."""
        if self.too_busy:
            return "inconclusive"
        return "agrees" if self.agrees else "differs"

    def figure(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise KeyError(name)


DUPLICATES = "duplicates per message"
DEAD_LETTERED = "dead-lettered fraction"
PER_CRASH = "duplicates per crash"


def _real(plan: Plan, m: Measurement) -> dict[str, Estimate]:
    dups = np.maximum(m.effects - 1, 0).astype(float)
    n = m.messages
    out = {DUPLICATES: Estimate(float(dups.mean()), float(dups.std(ddof=1) / math.sqrt(n)))}
    if plan.max_deliveries is not None:
        p = m.dead_lettered / n
        out[DEAD_LETTERED] = Estimate(p, math.sqrt(max(p * (1 - p), 1.0 / n) / n))
    if plan.crashes:
        per = m.crash_duplicates.astype(float)
        se = float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else math.inf
        out[PER_CRASH] = Estimate(float(per.mean()), se)
    return out


def _figures_of(summary: dict[str, Any], messages: int) -> dict[str, float]:
    crashes = summary.get("consumer_crashes", 0)
    return {
        DUPLICATES: float(summary["duplicate_effects_per_message"]),
        DEAD_LETTERED: summary["dead_lettered"] / messages,
        PER_CRASH: summary["duplicates_consume"] / crashes if crashes else math.nan,
    }


def simulation_scenario(scenario: Scenario, messages: int, extra_latency_s: float = 0.0) -> Scenario:
    """The scenario as conform simulates it: ``messages`` messages, no sweep or expectations;
    with ``extra_latency_s``, the consume data latency a constant of its mean plus that."""
    values: dict[str, Any] = {"messages": messages, "duration": None, "sweep": None,
                              "expect": None}
    if extra_latency_s:
        consume = scenario.network.consume
        mean = (consume.data if consume is not None else LinkSpec()).latency.mean
        values["network.consume.data.latency"] = {"dist": "constant", "value": mean + extra_latency_s}
    return scenario.with_overrides(values, drop_sweep=True)


def predict(scenario: Scenario, messages: int, seeds: int,
            extra_latency_s: float = 0.0) -> dict[str, np.ndarray]:
    """Each figure over ``seeds`` seeds (scenario.seed, scenario.seed + 1, ...)."""
    from alosim.simulate import simulate

    variant = simulation_scenario(scenario, messages, extra_latency_s)
    runs = [_figures_of(simulate(variant, variant.seed + i).summary, messages) for i in range(seeds)]
    return {name: np.array([r[name] for r in runs]) for name in runs[0]}


def compare(scenario: Scenario, plan: Plan, measurement: Measurement, url: str, *,
            seeds: int = 10) -> Comparison:
    """Hold ``measurement`` to alosim's prediction of ``scenario``."""
    if seeds < 2:
        raise ValueError("a prediction's standard error needs at least 2 seeds")
    real = _real(plan, measurement)
    overshoot_s = measurement.processing_overshoot.mean_s
    nominal = predict(scenario, plan.messages, seeds)
    late = predict(scenario, plan.messages, seeds, overshoot_s * plan.speed) if overshoot_s > 0 else nominal
    figures = []
    for name, estimate in real.items():
        values = nominal[name]
        simulated = Estimate(float(values.mean()), float(values.std(ddof=1) / math.sqrt(seeds)))
        allowance = abs(float(late[name].mean()) - simulated.value)
        figures.append(Figure(name, estimate, simulated, allowance))
    return Comparison(scenario=scenario.name, broker_url=url, plan=plan, measurement=measurement,
                      figures=tuple(figures), seeds=seeds, overshoot_s=overshoot_s)


def format_report(c: Comparison) -> str:
    """Real against simulated, one figure a line, and the verdict."""
    m, plan = c.measurement, c.plan
    lines = [
        f"conform {c.scenario} against {c.broker_url} ({m.broker}): {m.messages} messages at "
        f"{plan.rate_per_s:g}/s, speed {plan.speed:g}, {len(plan.crashes)} consumer crashes, "
        f"{m.wall_s:.1f}s",
        f"  {m.deliveries} deliveries ({m.deliveries / m.messages:.4f} per message), "
        f"{int(m.effects.sum())} side effects, {m.dead_lettered} dead-lettered",
    ]
    if m.broker == "nats" and plan.reclaim_from_scenario:
        lines.append("  broker.reclaim: JetStream ends a lease at its deadline; the scans are "
                     "predicted, not played")
    if m.broker == "redis":
        source = "broker.reclaim" if plan.reclaim_from_scenario else "finest the harness honours"
        every = "gaps Uniform(0, 2 x " if plan.reclaim_jitter else "every "
        close = ")" if plan.reclaim_jitter else ""
        lines.append(f"  reclaim scans {every}{plan.reclaim_interval_s * 1000:g}ms{close} ({source})")
    po, pr = m.processing_overshoot, m.probe_overshoot
    lines.append(f"  timer overshoot: processing sleeps mean {po.mean_s * 1000:.2f}ms, "
                 f"p99 {po.p99_s * 1000:.2f}ms ({po.samples}); 1ms probe mean "
                 f"{pr.mean_s * 1000:.2f}ms, p99 {pr.p99_s * 1000:.2f}ms ({pr.samples})")
    lines.extend(f"  {note}" for note in plan.notes)
    if m.down_s:
        lines.append(f"  consumer down (kill to ready): mean {np.mean(m.down_s) * 1000:.0f}ms "
                     f"over {len(m.down_s)} crashes")
    lines.append(f"  {'figure':<24} {'real':>18} {'alosim':>18} {'difference':>11} "
                 f"{'bound':>8}  verdict")
    for f in c.figures:
        real = f"{f.real.value:.4f} ± {f.real.se:.4f}"
        sim = f"{f.simulated.value:.4f} ± {f.simulated.se:.4f}"
        verdict = "agrees" if f.agrees else "DIFFERS"
        lines.append(f"  {f.name:<24} {real:>18} {sim:>18} {f.difference:>+11.4f} "
                     f"{f.bound:>8.4f}  {verdict}")
    lines.append(f"  (± one standard error; alosim over {c.seeds} seeds; bound = 3 standard errors "
                 f"of the difference + {c.overshoot_s * 1000:.2f}ms overshoot allowance)")
    if plan.max_deliveries is None and m.never_effected:
        lines.append(f"  {m.never_effected} messages were never processed")
    busy = c.too_busy
    lines.append(f"verdict: {c.verdict}" + (f" ({busy}; run it again on a quieter machine)" if busy else ""))
    return "\n".join(lines)
