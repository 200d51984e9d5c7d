"""A small least-recently-used cache of compiled functions, keyed by hashable settings."""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import Any


class CompileCache:
    """Keeps up to ``maxsize`` built objects (e.g. jitted functions) so repeated calls
    with the same settings reuse them instead of compiling again.

    A key that cannot be hashed (e.g. a callable defining ``__eq__`` without
    ``__hash__``) is not cached: ``get`` builds afresh every time.
    """

    def __init__(self, maxsize: int = 8):
        self.maxsize = maxsize
        self._entries: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        try:
            hit = self._entries.get(key)
        except TypeError:
            return build()
        if hit is None:
            hit = self._entries[key] = build()
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return hit

    def items(self):
        return self._entries.items()
