"""Experiment runs: their lifecycle in PostgreSQL, their jobs in arq, and recovery when the two disagree.

A run is one execution of an experiment (a model version × a protocol version,
``{BASE}experiments/{id}``). Its row moves only forward::

    QUEUED ──claim──▶ RUNNING ──result──▶ SUCCESS | PARTIAL | FAILED | INAPPLICABLE
       │                 │    └─worker lost─▶ QUEUED (attempts left) | FAILED (none left)
       └────cancel───────┴──────────────▶ CANCELLED
    (incompatible pairs are written INAPPLICABLE directly and never queued)

Every run keeps its row, so an experiment has a current run (the newest) and a
history. Consistency between the row and the arq job (whose id is the run id):

- :func:`create_run` commits the row, then enqueues the job; a failed enqueue
  deletes the row again, and a crash in between leaves a QUEUED row without a
  job, which :func:`recover` enqueues. A job whose run is unknown, cancelled
  or finished is harmless (the worker's claim is refused) and removed by
  :func:`recover`;
- :func:`recover` (on start and every few seconds, see :func:`supervise`)
  re-enqueues QUEUED runs whose job is gone (Redis restarted or flushed),
  removes jobs that have no queued run, and puts RUNNING runs whose worker
  stopped sending heartbeats back in the queue, or fails them after
  :data:`MAX_ATTEMPTS` attempts, with the reason.

Two queues share one arq queue: interactive jobs are scored
:data:`PRIORITY_MS` earlier than bulk jobs, so a worker always takes every
waiting interactive job first and each band stays first-in, first-out.

Workers never touch PostgreSQL: they call the runner callback
(``web/routes/runner.py``), which calls :func:`claim_run`,
:func:`report_progress` and :func:`finish_run` here.

The package's modules: ``records`` (the row, names, reading, visibility), ``queueing`` (creating, enqueueing,
cancelling), ``callbacks`` (the runner contract's server side), ``recovery`` (recover, the supervisor),
``automatic`` (auto-run and run-all).
"""

from resolvers.runs.automatic import Queued, queue_for_version, run_all
from resolvers.runs.callbacks import (
    Claim,
    Finish,
    archive_path,
    claim_run,
    finish_run,
    release_run,
    report_progress,
    should_stop,
)
from resolvers.runs.queueing import cancel_run, create_run, enqueue, mark_cancelled, missing_terms
from resolvers.runs.records import (
    MAX_ATTEMPTS,
    QUEUES,
    STATUSES,
    TERMINAL,
    Run,
    current_run,
    experiment_id,
    experiment_uri,
    get_run,
    history,
    record_ended,
    run_uri,
    split_version_uri,
    visible_run,
)
from resolvers.runs.recovery import Recovery, recover, start_supervisor, stop_supervisor, supervise

__all__ = [
    "MAX_ATTEMPTS",
    "QUEUES",
    "STATUSES",
    "TERMINAL",
    "Claim",
    "Finish",
    "Queued",
    "Recovery",
    "Run",
    "archive_path",
    "cancel_run",
    "claim_run",
    "create_run",
    "current_run",
    "enqueue",
    "experiment_id",
    "experiment_uri",
    "finish_run",
    "get_run",
    "history",
    "mark_cancelled",
    "missing_terms",
    "queue_for_version",
    "record_ended",
    "recover",
    "release_run",
    "report_progress",
    "run_all",
    "run_uri",
    "should_stop",
    "split_version_uri",
    "start_supervisor",
    "stop_supervisor",
    "supervise",
    "visible_run",
]
