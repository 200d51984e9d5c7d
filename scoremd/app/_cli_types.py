"""Argument types of the ``scoremd`` command: each parses a value and checks it with the
library's own check (:mod:`scoremd._checks`), so that a bad value reads the same from the
command line as from a config; and the parser whose errors are one line."""

from __future__ import annotations

import argparse
import sys

from .._checks import non_negative_float, non_negative_int, positive_float, positive_int

__all__ = ["Parser", "arg_type", "count", "diffusion_time", "non_negative_ns", "non_negative_ps", "positive", "rate", "seed", "t_stop",
           "time_step"]


def arg_type(check, *extra):
    """An argparse type from a check of :mod:`scoremd._checks` (the library's message and range)."""
    def parse(text: str):
        try:
            value = int(text) if check in (positive_int, non_negative_int) else float(text)
            return check(value, "the value", *extra)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).replace("the value ", "")) from None
    parse.__name__ = check.__name__
    return parse


count = arg_type(positive_int)
seed = arg_type(non_negative_int)
positive = arg_type(positive_float)
time_step = arg_type(positive_float, "ps")
rate = arg_type(non_negative_float, "1/ps")
non_negative_ps = arg_type(non_negative_float, "ps")
non_negative_ns = arg_type(non_negative_float, "ns")


def _time_type(include_zero: bool):
    """An argparse type: a diffusion time in (0, 1), or in [0, 1) with ``include_zero``."""
    interval = "[0, 1)" if include_zero else "(0, 1)"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not ((0 <= value if include_zero else 0 < value) and value < 1):  # NaN fails too
            raise argparse.ArgumentTypeError(f"a diffusion time lies in {interval}, got {text}")
        return value
    return parse


diffusion_time = _time_type(include_zero=False)
t_stop = _time_type(include_zero=True)


class Parser(argparse.ArgumentParser):
    """argparse with scoremd's one-line errors: ``scoremd: error: argument --n: ...``, exit 2."""

    def error(self, message):
        print(f"scoremd: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)
