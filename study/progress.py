"""What a person watching a study sees: progress lines while it runs, a summary at the end.

:class:`StudyProgress` is a Ray Tune callback on the driver. It prints one line when a trial starts
or ends and at most every ``interval`` seconds otherwise: trials running / done / failed / pruned,
the best value so far of each objective (and which trial holds it), and an ETA from the mean trial
duration so far. It also records non-completed endings (pruned by the scheduler, errored after its
retries) on the trial's MLflow child run, which the trial itself cannot do once it is stopped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ray import tune

from analysis import hyperparams
from analysis.schema import Tag, TrialStatus, arrow, se_name
from study.search import COMPLETED, FAILED, PRUNED, classify


def with_se(row: Mapping[str, Any], name: str) -> str:
    """"0.712 ± 0.014": a score with its standard error ``<name>_se`` when the trial logged one."""
    value = row.get(name)
    if value is None or value != value:
        return ""
    se = row.get(se_name(name))
    return f"{float(value):.4g}" + (f" ± {float(se):.2g}" if se is not None and se == se else "")


def config_text(overrides: Mapping[str, Any]) -> str:
    """"model_type=beta_tcvae beta=14.47 latent_dim=6 seed=0": a trial's searched values as a person
    reads them (floats to 4 significant digits; the record keeps them whole)."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items())


def _fmt_seconds(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class StudyProgress(tune.Callback):
    """Progress lines, best-so-far per objective, ETA; marks pruned/failed trials in MLflow.

    Args:
        objectives: metric → "min" | "max".
        num_trials: total trials of the study.
        concurrency: trials that run at once (for the ETA).
        mark_trial: ``mark_trial(trial_id, status[, reason])`` records a non-completed ending (a
            :class:`~analysis.schema.TrialStatus`), or None.
        interval: seconds between periodic lines.
        stream: where lines go (stdout by default; flushed, for ``ray job submit``).
    """

    def __init__(self, objectives: Mapping[str, str], num_trials: int, concurrency: int,
                 mark_trial: Callable[[str, str], None] | None = None, interval: float = 30.0,
                 stream=None):
        self.objectives = dict(objectives)
        self.num_trials = num_trials
        self.concurrency = max(1, concurrency)
        self.mark_trial = mark_trial
        self.interval = interval
        self.stream = stream
        self.started: dict[str, float] = {}
        self.durations: list[float] = []
        self.outcomes: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.best: dict[str, tuple[float, str]] = {}
        self.last_line = 0.0
        self.t0 = time.time()

    def _print(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(f"[betasweep {time.strftime('%H:%M:%S')}] {text}\n")
        stream.flush()

    def status_line(self) -> str:
        """One line: counts, best per objective, elapsed and ETA."""
        counts = {s: sum(1 for o in self.outcomes.values() if o == s) for s in (COMPLETED, PRUNED, FAILED)}
        running = len(self.started)
        done = sum(counts.values())
        parts = [f"trials {done}/{self.num_trials} done ({counts[COMPLETED]} ok, "
                 f"{counts[PRUNED]} pruned, {counts[FAILED]} failed), {running} running"]
        for name, sense in self.objectives.items():
            if name in self.best:
                value, trial_id = self.best[name]
                parts.append(f"best {name} {arrow(sense)} {value:.4g} ({trial_id})")
        elapsed = time.time() - self.t0
        eta = ""
        if self.durations:
            mean = sum(self.durations) / len(self.durations)
            remaining = max(self.num_trials - done, 0)
            eta = f", ETA {_fmt_seconds(mean * remaining / self.concurrency)}"
        parts.append(f"elapsed {_fmt_seconds(elapsed)}{eta}")
        return " | ".join(parts)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started[trial.trial_id] = time.time()
        overrides = trial.config.get("overrides", {})
        self._print(f"start {trial.trial_id}: {config_text(overrides)}")

    def on_trial_result(self, iteration, trials, trial, result: dict, **info):
        if time.time() - self.last_line >= self.interval:
            self.last_line = time.time()
            step = result.get("step")
            self._print(f"{trial.trial_id} at step {int(step) if step else '?'}; " + self.status_line())

    def _end(self, trial, outcome: str, result: Mapping[str, Any] | None) -> None:
        start = self.started.pop(trial.trial_id, None)
        if start is not None:
            self.durations.append(time.time() - start)
        self.outcomes[trial.trial_id] = outcome
        if outcome == COMPLETED and result:
            for name, sense in self.objectives.items():
                value = result.get(name)
                if value is None:
                    continue
                value = float(value)
                best = self.best.get(name)
                if best is None or (value < best[0] if sense == "min" else value > best[0]):
                    self.best[name] = (value, trial.trial_id)
        diverged = bool(result) and result.get(Tag.TRIAL_STATUS) == TrialStatus.DIVERGED
        if outcome != COMPLETED and self.mark_trial is not None:
            status = PRUNED if outcome == PRUNED else (TrialStatus.DIVERGED if diverged else FAILED)
            reason = (result or {}).get(Tag.FAILURE_REASON) if status == FAILED else None
            self.mark_trial(trial.trial_id, status, *([reason] if reason else []))
        label = TrialStatus.DIVERGED if diverged else outcome
        scores = ""
        if result and outcome == COMPLETED:
            scores = " " + ", ".join(f"{n}={with_se(result, n)}" for n in self.objectives if n in result)
        elif outcome == FAILED and not diverged and result and result.get(Tag.FAILURE_REASON):
            scores = f" ({result[Tag.FAILURE_REASON]})"
            self.reasons[trial.trial_id] = str(result[Tag.FAILURE_REASON])
        self._print(f"end {trial.trial_id}: {label}{scores} | {self.status_line()}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = trial.last_result or {}
        self._end(trial, classify(result, error=False), result)

    def on_trial_error(self, iteration, trials, trial, **info):
        from study.outcome import error_reason

        reason = error_reason(trial)
        if reason:
            reason += f" (after {trial.num_failures} attempt{'s' if trial.num_failures != 1 else ''})"
        self._end(trial, FAILED, {**(trial.last_result or {}), **({Tag.FAILURE_REASON: reason} if reason else {})})


#: Scores the end-of-study table shows besides the objectives.
SUMMARY_SCORES = ("blur", "beta_vae_score", "mig")


def summary_table(df, objectives: Mapping[str, str], front_ids: set[str]) -> str:
    """Plain-text table of every trial (one row each), Pareto-optimal rows starred; scores with
    their standard error (± SE) where the trial logged one."""
    scores = [*objectives, *(m for m in SUMMARY_SCORES if m not in objectives)]
    df = hyperparams.with_text(df)
    cols = ["model_type", hyperparams.TEXT_COLUMN, "latent_dim", "seed", Tag.TRIAL_STATUS, *scores]
    cols = [c for c in cols if c in df.columns]
    header = ["", "trial"] + cols
    rows = []
    sort_by = [c for c in objectives if c in df.columns][:1]
    frame = df.sort_values(sort_by) if sort_by else df
    for _, row in frame.iterrows():
        cells = ["*" if row.get("run_id") in front_ids else "", str(row.get(Tag.TRIAL_ID, ""))]
        for c in cols:
            value = row.get(c)
            if c in scores:
                cells.append(with_se(row, c))
            elif isinstance(value, float):
                cells.append("" if value != value else f"{value:.4g}")
            else:
                cells.append("" if value is None else str(value))
        rows.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths, strict=True))]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
