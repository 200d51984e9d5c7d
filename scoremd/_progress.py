"""Progress display for the long-running drivers (training, sampling, MD).

Every driver takes ``progress``: ``False`` (silent), ``True`` (a tqdm bar on
stderr), or a callable ``progress(total, description) -> bar`` returning any
object with ``update(n)``, ``set_postfix(**fields)`` and ``close()`` (e.g. a
notebook widget or a logger). One place builds the bar, so all drivers look
the same and a caller can swap the display without touching them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def set_postfix(self, **fields: Any) -> Any: ...
    def close(self) -> Any: ...


Progress = bool | Callable[[int, str], ProgressBar]


class _Silent:
    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **fields: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(progress: Progress, total: int, description: str, *, initial: int = 0, unit: str = "it"):
    """The bar ``progress`` asks for, counting to ``total`` from ``initial``."""
    if callable(progress):
        bar = progress(total, description)
        if initial:
            bar.update(initial)
        return bar
    if not progress:
        bar = _Silent()
        bar.n = initial
        return bar
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True)
