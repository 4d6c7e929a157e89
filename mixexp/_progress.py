"""A status line for long work (cross-validation, bootstrap refits)."""

import sys


class StatusLine:
    """One line of progress, rewritten in place when ``out`` is a terminal,
    so that a minutes-long search shows it is alive. Elsewhere (a file, a
    notebook's captured output) it prints nothing, unless ``log`` asks for
    each message on a line of its own.

    Parameters
    ----------
    out : file-like, default=None
        Where to write; None is ``sys.stdout`` at each call.
    log : bool, default=False
        Outside a terminal, print every message as a line.
    """

    def __init__(self, out=None, log=False):
        self.out = out
        self.log = log
        self.width = 0

    def _stream(self):
        return sys.stdout if self.out is None else self.out

    @property
    def live(self):
        """Whether the output is a terminal."""
        return bool(getattr(self._stream(), "isatty", lambda: False)())

    def __call__(self, message):
        stream = self._stream()
        if self.live:
            stream.write("\r" + message.ljust(self.width))
            stream.flush()
            self.width = len(message)
        elif self.log:
            print(message, file=stream, flush=True)

    def clear(self):
        """Erase the line (in a terminal), so the next output starts clean."""
        if self.live and self.width:
            stream = self._stream()
            stream.write("\r" + " " * self.width + "\r")
            stream.flush()
            self.width = 0


def counted(results, total, label, verbose):
    """Pass ``results`` (an iterable of ``total`` items, e.g. a joblib
    generator) through, showing ``label: k of total`` as they arrive when
    ``verbose``: in place in a terminal, else a line at every tenth."""
    status = StatusLine(log=False)
    step = max(1, total // 10)
    for done, result in enumerate(results, start=1):
        if verbose:
            message = f"{label}: {done} of {total}"
            if status.live:
                status(message)
            elif done % step == 0 or done == total:
                print(message, flush=True)
        yield result
    if verbose:
        status.clear()
