"""System metrics (CPU, memory, GPU) as MLflow records them, at no request of their own.

The names are MLflow's (``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
``system/gpu_0_utilization_percentage``, …: the run page's System metrics tab), collected by MLflow's
own monitors (``CPUMonitor``; ``GPUMonitor`` through NVML or ``ROCMMonitor`` when a GPU is found),
plus the process's own ``system/process_cpu_percentage`` and ``system/process_rss_megabytes``
(resident memory): on a node shared by several trials the machine's numbers are not the trial's.

MLflow's ``SystemMetricsMonitor`` would send each sample itself: a ``get_run`` and a ``log_batch``
every 10 s per run, past the trial's buffer (64 concurrent trials: ~13 more requests/s, a fourth of
what four server processes serve on the benchmark machine). Here a :class:`SystemSampler` samples
on a thread every ``$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` s (10, MLflow's default) and
:meth:`SystemSampler.take` hands back the means since the last call: a trial adds them to each
report's batch (:meth:`study.tracking.TrialTracker.log_metrics`), and :class:`StudySystemMetrics`
logs the driver's to the study run every ``period`` s. ``$MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false``
turns them off; without psutil (a dependency) there are none.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from analysis.schema import SYSTEM_PREFIX

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0


def enabled() -> bool:
    """Off only when ``$MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` says false (MLflow's own switch)."""
    return os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true").strip().lower() not in ("false", "0", "no")


def _monitors() -> list:
    """MLflow's CPU monitor, a GPU monitor if a GPU answers, and the process's; [] without psutil."""
    try:
        import psutil
        from mlflow.system_metrics.metrics.base_metrics_monitor import BaseMetricsMonitor
        from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
    except ImportError as exc:
        log.warning("no system metrics: %s (pip install psutil)", exc)
        return []

    class ProcessMonitor(BaseMetricsMonitor):
        """This process's CPU % (all its threads: > 100 when it uses several cores) and resident memory."""

        def __init__(self):
            super().__init__()
            self.process = psutil.Process()
            self.process.cpu_percent()  # the first call only starts the interval

        def collect_metrics(self):
            self._metrics["process_cpu_percentage"].append(self.process.cpu_percent())
            self._metrics["process_rss_megabytes"].append(self.process.memory_info().rss / 1e6)

        def aggregate_metrics(self):
            return {k: round(sum(v) / len(v), 1) for k, v in self._metrics.items()}

    psutil.cpu_percent()  # likewise
    return [CPUMonitor(), ProcessMonitor(), *_gpu_monitors()]


def _gpu_monitors() -> list:
    """MLflow's NVIDIA (NVML) or AMD (ROCm) monitor when one finds a GPU, else none."""
    from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor
    from mlflow.system_metrics.metrics.rocm_monitor import ROCMMonitor

    for monitor in (GPUMonitor, ROCMMonitor):
        try:
            return [monitor()]
        except Exception as exc:  # no library, no driver or no GPU
            log.debug("no %s: %s", monitor.__name__, exc)
    return []


class SystemSampler:
    """Samples every ``interval`` s on a daemon thread; :meth:`take` returns the means since the
    last take (sampling once more first, so a take always has a fresh sample)."""

    def __init__(self, interval: float | None = None):
        env = os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL")
        self.interval = float(interval or env or DEFAULT_INTERVAL)
        self.monitors = _monitors() if enabled() else []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SystemSampler:
        if self.monitors and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="system-metrics", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._collect()

    def _collect(self) -> None:
        with self._lock:
            for monitor in self.monitors:
                try:
                    monitor.collect_metrics()
                except Exception as exc:  # a sample lost is no reason to stop the trial
                    log.debug("system metrics sample failed: %s", exc)

    def take(self) -> dict[str, float]:
        """``system/<name>`` → mean since the last take ({} when off)."""
        if not self.monitors:
            return {}
        self._collect()
        out: dict[str, float] = {}
        with self._lock:
            for monitor in self.monitors:
                if monitor.metrics:
                    out.update(monitor.aggregate_metrics())
                monitor.clear_metrics()
        return {f"{SYSTEM_PREFIX}{k}": float(v) for k, v in out.items()}

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class StudySystemMetrics:
    """The driver's system metrics on the study run: one ``log_batch`` every ``period`` s, at the
    step = seconds since the run started (a resumed study goes on along the same axis). A failed
    call is skipped: the next period tries again."""

    def __init__(self, tracking_uri: str, run_id: str, period: float = 30.0, interval: float | None = None):
        self.tracking_uri, self.run_id, self.period = tracking_uri, run_id, period
        self.sampler = SystemSampler(interval or min(period, DEFAULT_INTERVAL))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_ms = 0

    def __enter__(self) -> StudySystemMetrics:
        if not self.sampler.monitors:
            return self
        from study.tracking.client import mlflow_client

        self._client = mlflow_client(self.tracking_uri)
        try:
            self._started_ms = self._client.get_run(self.run_id).info.start_time
        except Exception as exc:
            log.debug("no system metrics for the study run: %s", exc)
            return self
        self.sampler.start()
        self._thread = threading.Thread(target=self._run, name="study-system-metrics", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.log_now()

    def log_now(self) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        step = max(0, (now - self._started_ms) // 1000)
        metrics = [Metric(k, v, now, step) for k, v in self.sampler.take().items()]
        try:
            if metrics:
                self._client.log_batch(self.run_id, metrics=metrics, synchronous=True)
        except Exception as exc:
            log.debug("study run's system metrics not logged: %s", exc)

    def __exit__(self, *exc) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=self.period + 15)
        self.log_now()
        self.sampler.stop()
