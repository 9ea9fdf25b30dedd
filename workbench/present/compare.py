"""The Comparer the Compare and Feedback views keep between clicks."""

from __future__ import annotations

import threading


class ComparerCache:
    """The last `Comparer` loaded, kept while the same models are asked for: loading is the slow part."""

    def __init__(self):
        self.key = None
        self.comparer = None
        self._lock = threading.Lock()

    def get(self, models, *, base: str | None = None, reward_model: str | None = None,
            precision: str | None = None):
        from workbench.evaluate import Comparer
        key = (tuple(models), base or None, reward_model or None, precision)
        with self._lock:
            if key != self.key:
                self.key, self.comparer = None, None  # free the old models before loading new ones
                self.comparer = Comparer(list(models), base=base or None, reward_model=reward_model or None,
                                         precision=precision)
                self.key = key
            return self.comparer
