"""Answers to repeated queries, kept until the store changes.

A query's answer is fixed by the job sent to a worker (query text, dataset,
format, row cap) and the generation of the store it runs on, which every write
advances: a job that has been answered at this generation can be answered again
without a worker. Popular queries (the editor's examples, a dashboard's counts,
a linked-data client asking for the same resource) then cost no process hop and
no evaluation. Queries whose answer may differ between two runs at the same
generation (``RAND``, ``NOW``, ``UUID``, ``STRUUID``, ``BNODE()``, ``SERVICE``)
are never kept: see :attr:`sparql.lexer.QueryShape.repeatable`.

The cache is bounded by the bytes of the answers it holds (least recently used
answers go first), and an answer larger than a sixteenth of the budget is not
kept, so that one huge answer cannot empty it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparql.pool import WorkerAnswer


def _cost(answer: WorkerAnswer) -> int:
    """Bytes an entry takes: its body, and about 256 for the header, the key and the entry's bookkeeping."""
    return len(answer.body) + 256


class AnswerCache:
    """``budget`` bytes of worker answers, keyed by their job (which names the store and its generation)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._answers: OrderedDict[bytes, WorkerAnswer] = OrderedDict()

    @staticmethod
    def key(job: dict[str, Any]) -> bytes:
        """A fixed-size key: a job can hold a long query and a long list of graphs."""
        return hashlib.blake2b(json.dumps(job, sort_keys=True).encode(), digest_size=20).digest()

    def get(self, key: bytes) -> WorkerAnswer | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def put(self, key: bytes, answer: WorkerAnswer) -> None:
        cost = _cost(answer)
        if cost > self.budget // 16 or key in self._answers:
            return
        self._answers[key] = answer
        self.size += cost
        while self.size > self.budget:
            _, dropped = self._answers.popitem(last=False)
            self.size -= _cost(dropped)

    def clear(self) -> None:
        self._answers.clear()
        self.size = 0
