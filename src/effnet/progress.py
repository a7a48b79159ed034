"""Progress bars that suit where they are written: every tqdm bar of the package is made here.

On a terminal a bar redraws itself in place with carriage returns. A log file has no place to
redraw in: ``effnet train ... > log.txt 2>&1`` would keep every frame, each ended by ``\\r``. So
when the stream is not a terminal the bar writes whole lines instead, at most one a
:data:`LINE_INTERVAL_S` and only after another percent of the work (a multi-day run: about a
hundred lines), plus a closing line for a bar that is kept (``leave``). No ``\\r`` is ever written
there, not even when another line is printed beside the bar (tqdm would clear the bar for it).

No torch here: the command line imports this before it knows whether it needs torch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm as _tqdm

#: The shortest time between two lines of a bar written to a file or a pipe.
LINE_INTERVAL_S = 30.0


def is_terminal(stream: IO[str] | None) -> bool:
    """Whether ``stream`` is an interactive terminal (a closed or odd stream is not)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    file: IO[str] | None = None,
    disable: bool | None = False,
    **kwargs: Any,
) -> _tqdm:
    """A tqdm bar on ``file`` (default stderr): redrawn in place on a terminal, lines elsewhere.

    ``disable=True`` draws nothing, as tqdm's own; ``None`` (tqdm's "off when not a terminal")
    is taken as False, since off a terminal the bar writes lines rather than frames. The other
    keywords are tqdm's.
    """
    stream = sys.stderr if file is None else file
    if is_terminal(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, file=stream, disable=bool(disable), **kwargs)
    kwargs.pop("dynamic_ncols", None)  # no terminal to measure
    return LineBar(iterable, file=stream, disable=bool(disable), ascii=True, **kwargs)


class LineBar(_tqdm):
    """A tqdm bar that writes newline-terminated lines, seldom, and never a carriage return."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._line_time = time.monotonic()  # the first line comes one interval in, or at the end
        self._line_n: float | None = None
        super().__init__(*args, **kwargs)

    def _due(self) -> bool:
        """A line is due: an interval since the last one, and another percent (when known)."""
        if self.n == self._line_n or time.monotonic() - self._line_time < LINE_INTERVAL_S:
            return False
        if not self.total or self._line_n is None:
            return True
        return self.n - self._line_n >= math.ceil(self.total / 100)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Write the bar as one line when one is due; tqdm calls this on every refresh."""
        if msg == "" or not self._due():  # "" is tqdm's request to erase the bar
            return False
        self._write_line(msg)
        return True

    def _write_line(self, msg: str | None = None) -> None:
        self._line_time, self._line_n = time.monotonic(), self.n
        self.fp.write((msg or str(self)).strip() + "\n")
        getattr(self.fp, "flush", lambda: None)()

    def clear(self, nolock: bool = False) -> None:
        """Nothing to erase: what was written is a finished line."""

    def moveto(self, n: int) -> None:
        """No cursor to move in a file."""

    def close(self) -> None:
        """A kept bar (``leave``) ends with a line of where it stopped, unless that was the last."""
        if self.disable:
            return
        if self.leave is not False and self.n != self._line_n:
            self._write_line()
        self.disable = True
        self._decr_instances(self)
