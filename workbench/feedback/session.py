"""A rater's session: the pair on show, the next one prepared in the background, undo."""

from __future__ import annotations

import random
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from workbench.errors import DataError, WorkbenchError
from workbench.feedback.dataset import (
    check_name, feedback_path, feedback_stats, read_feedback, record_judgement, record_thumb, undo,
)
from workbench.feedback.pairs import Pair, check_sampling, make_pair
from workbench.feedback.raters import agreement_with_reward_model


class Session:
    """One rater working through prompts: the pair on show, the next one prepared in the
    background while the rater reads, and the judgements of this session that undo can take back.

    Front ends (the Feedback tab, the Jupyter widget) call advance / judge / undo / counts.
    """

    def __init__(self, name, models: list[str], prompts: list, *, comparer=None, base: str | None = None,
                 reward_model: str | None = None, rater: str | None = None, seed: int = 0,
                 prefetch: bool = True, **sampling):
        from workbench.evaluate import Comparer
        # A name, never a path: judgements go to the feedback folder, where training reads them.
        self.name = check_name(name)
        self.path = feedback_path(self.name)
        self.models = [m for m in dict.fromkeys(models) if m]
        check_sampling(self.models, sampling.get("temperature", 0.8))  # before the slow model load
        if not prompts:
            raise DataError("no prompts to rate", hint="Give at least one prompt.")
        self.comparer = comparer or Comparer(self.models, base=base, reward_model=reward_model)
        self.rater, self.sampling, self.prefetch = rater, sampling, prefetch
        self._rng = random.Random(seed)
        self._todo = deque(prompts)
        self._ready: deque[Pair] = deque()  # pairs undo put back, shown before new ones
        self._next: Future | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedback")
        self._done: list[tuple[dict, Pair]] = []  # judgements and thumbs, in the order given
        self._agrees: dict[str, bool] = {}
        self.current: Pair | None = None
        self.judged = 0

    def _submit(self) -> Future:
        """Make the next prompt's pair on the session's one worker thread: one thread, so the rng
        draws (seeds, sides) follow the prompts' order whatever the timing."""
        prompt = self._todo.popleft() if self._todo else None
        return self._pool.submit(lambda: prompt and make_pair(self.comparer, prompt, self.models, self._rng,
                                                              **self.sampling))

    def left(self) -> int:
        """Prompts not yet shown (the one on show excluded)."""
        return len(self._todo) + len(self._ready) + (1 if self._next is not None else 0)

    def advance(self) -> Pair | None:
        """Show the next pair (None when the prompts are used up); blocks while it is generated,
        then starts preparing the one after."""
        if self._ready:
            self.current = self._ready.popleft()
        else:
            future, self._next = self._next or self._submit(), None
            self.current = future.result()
        if self.prefetch and self._todo and self._next is None:
            self._next = self._submit()
        return self.current

    def judge(self, choice: str, corrected: str | None = None) -> dict | None:
        """Record the rater's choice on the pair on show ("left", "right", "tie", "skip")."""
        if self.current is None:
            raise WorkbenchError("no pair is on show", hint="Start rating first.")
        record = record_judgement(self.name, self.current, choice, corrected=corrected, rater=self.rater)
        if record is not None:
            self._done.append((record, self.current))
            self.judged += 1
        return record

    def thumb(self, side: str, thumb: str) -> dict:
        """A thumbs "up" or "down" on one answer on show ("left" is A); the pair stays on show, to
        be judged or skipped. A second thumb on the same answer retracts the first."""
        if self.current is None:
            raise WorkbenchError("no pair is on show", hint="Start rating first.")
        record = record_thumb(self.name, self.current, side, thumb, rater=self.rater)
        for i, (old, pair) in enumerate(self._done):
            if pair is self.current and old.get("side") == side and "thumb" in old:
                undo(self.name, old["id"], rater=self.rater)
                del self._done[i]
                self.judged -= 1
                break
        self._done.append((record, self.current))
        self.judged += 1
        return record

    def thumbs(self) -> dict[str, str]:
        """The thumbs this session gave the answers on show: {"left"|"right": "up"|"down"}."""
        return {old["side"]: old["thumb"] for old, pair in self._done if pair is self.current and "thumb" in old}

    def undo(self) -> Pair:
        """Retract this session's last judgement or thumb and show its pair again (the pair on
        show waits, unless it is that pair)."""
        if not self._done:
            raise WorkbenchError("nothing to undo in this session")
        record, pair = self._done.pop()
        undo(self.name, record["id"], rater=self.rater)
        self.judged -= 1
        if self.current is not None and self.current is not pair:
            self._ready.appendleft(self.current)
        self.current = pair
        return pair

    def counts(self) -> dict:
        """feedback_stats of the dataset, "session" (judged here), and with a reward model
        "reward_agreement" ({"n", "agree", "share"}; each judgement is scored once)."""
        stats = {**feedback_stats(self.path), "session": self.judged}
        scorer = getattr(self.comparer, "scorer", None)
        if scorer is not None and self.path.exists():
            rows = [r for r in read_feedback(self.path) if not r.get("tie")]  # pairs only
            new = [r for r in rows if r["id"] not in self._agrees]
            if new:
                self._agrees.update(agreement_with_reward_model(new, scorer=scorer)["agrees"])
            agree = sum(self._agrees[r["id"]] for r in rows)
            stats["reward_agreement"] = {"model": self.comparer.reward_model, "n": len(rows), "agree": agree,
                                         "share": agree / len(rows) if rows else None}
        return stats

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

