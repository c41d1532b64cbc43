r"""Time budgets for symbolic work: stop with a clear error instead of running for hours.

SymPy's simplification and the symmetry search cannot be stopped
cooperatively — a single ``expand`` may run for minutes without coming back
to symnoether's code — so a budget opened in the main thread arms a real-time
interval timer (``signal.setitimer(ITIMER_REAL)``) whose ``SIGALRM`` handler
raises :class:`~symnoether.errors.BudgetExceededError` in whatever Python code
is running. In another thread, or on a platform without ``SIGALRM``
(Windows), the budget is cooperative: :func:`check`, called at the loop
boundaries of the symmetry search, the Noether stage and :func:`derive`,
raises once the deadline has passed (a single long SymPy call then runs to
its end first).

- ``time_budget(None, stage)`` sets no deadline; inside a budget it labels the
  stage, so that the error says where the time ran out; outside any budget it
  costs nothing. ``timeout=None`` (the library's default) means no budget.
- Budgets nest; a nested budget can shorten the time left, never extend it
  (the earliest deadline wins), and the error names the budget that ran out.
- On leaving the outermost budget the previous ``SIGALRM`` handler and
  interval timer are restored, the time they had left reduced by the time
  spent; a foreign timer that falls due inside a budget (a caller's own alarm,
  pytest-timeout's signal method) is passed to its handler on time.
- An error that some code swallows (``except Exception``) is raised again
  every 0.1 s until the budget is left. The alarm waits while the
  interpreter runs code where an error would be lost (garbage collection and
  its callbacks, ``__del__`` finalizers), for at most 2 s.
- A long call in C (a large SVD, an LLVM compilation) is not cut short: the
  error is raised as soon as it returns to Python.
- An interrupted SymPy call leaves no half-made result behind: SymPy caches
  (and :func:`~symnoether.core.dynamics.equations_of_motion` memoizes) only
  finished results, so the same call can be repeated with a larger budget.

Examples
--------
>>> import sympy as sp
>>> from symnoether.budget import time_budget
>>> from symnoether.errors import BudgetExceededError
>>> x, y, z = sp.symbols("x y z")
>>> try:
...     with time_budget(0.2, "the expansion", hint="expand less"):
...         sp.expand((x + y + z + 1) ** 60)           # ~20 s without a budget
... except BudgetExceededError as err:
...     print(err)
the expansion ran out of its 0.2 s time budget; raise the budget (timeout=SECONDS), or expand less
"""

from __future__ import annotations

import gc
import math
import numbers
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

from .errors import BudgetExceededError, InvalidInputError

__all__ = ["time_budget", "check", "remaining", "REFIRE_SECONDS", "MAX_WAIT_SECONDS"]

REFIRE_SECONDS = 0.1
"""Delay after which a budget error that was swallowed is raised again."""
MAX_WAIT_SECONDS = 2.0
"""Longest the alarm waits for a finalizer or garbage collection to finish."""

_HAS_ALARM = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")
_MIN_DELAY = 1e-4  # setitimer(…, 0) would disarm: never arm for less than this
_DEFER = 1e-3  # retry delay when the alarm lands inside this module's bookkeeping
_THIS_FILE = __file__  # frames of this module's code (not doctests run in it)


@dataclass(eq=False)
class _Frame:
    stage: str
    hint: str
    raise_with: str
    seconds: float | None
    deadline: float | None  # time.monotonic() seconds; None: a label only
    next_fire: float | None  # when the alarm is due: the deadline, then every REFIRE_SECONDS


class _Local(threading.local):
    def __init__(self) -> None:
        self.stack: list[_Frame] = []


class _Alarm:
    """The main thread's SIGALRM state while a budget owns it."""

    installed = False
    collecting = False  # inside a garbage collection (its callbacks and finalizers)
    waiting_since: float | None = None  # the alarm has waited for a finalizer since then
    previous_handler: object = None
    previous_deadline: float | None = None
    previous_interval = 0.0


_LOCAL = _Local()
_ALARM = _Alarm()


class time_budget:  # noqa: N801 - a context manager used like a function
    """A time budget of ``seconds`` for the work inside the ``with`` block.

    Parameters
    ----------
    seconds : float or None
        Positive number of seconds; None (or ``inf``) sets no deadline and only
        labels the stage for an enclosing budget's error message.
    stage : str
        What runs inside, as the error names it ("the symmetry search").
    hint : str
        What to do instead besides raising the budget ("simplify the loss").
    raise_with : str
        How the user raises the budget ("timeout=SECONDS", "--timeout SECONDS").

    Raises
    ------
    InvalidInputError
        ``seconds`` is not a positive number (on construction).
    BudgetExceededError
        Inside the block, once the deadline has passed.

    Examples
    --------
    >>> with time_budget(60, "a quick step"):
    ...     remaining() <= 60
    True
    >>> remaining() is None          # no budget outside the block
    True
    """

    __slots__ = ("seconds", "stage", "hint", "raise_with", "_frames")

    def __init__(
        self,
        seconds: float | None,
        stage: str,
        *,
        hint: str = "",
        raise_with: str = "timeout=SECONDS",
    ) -> None:
        self.seconds = _checked_seconds(seconds, stage)
        self.stage = stage
        self.hint = hint
        self.raise_with = raise_with
        self._frames: list[_Frame | None] = []

    def __enter__(self) -> time_budget:
        stack = _LOCAL.stack
        if self.seconds is None and not _timed(stack):
            self._frames.append(None)
            return self
        now = time.monotonic()
        deadline = None if self.seconds is None else now + self.seconds
        frame = _Frame(self.stage, self.hint, self.raise_with, self.seconds, deadline, deadline)
        stack.append(frame)
        self._frames.append(frame)
        if deadline is not None and _main_thread() and _install():
            _arm(now)
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> bool:
        frame = self._frames.pop()
        if frame is None:
            return False
        stack = _LOCAL.stack
        while stack:
            if stack.pop() is frame:
                break
        if _ALARM.installed and _main_thread():
            if _timed(stack):
                _arm(time.monotonic())
            else:
                _uninstall()
        return False


def check() -> None:
    """Raise :class:`BudgetExceededError` when a budget of this thread has run out.

    Cheap (a list lookup) when no budget is open; called at loop boundaries so
    that budgets also hold where no timer signal can be used.

    Examples
    --------
    >>> check()                      # no budget: nothing happens
    """
    stack = _LOCAL.stack
    if not stack:
        return
    now = time.monotonic()
    expired = [f for f in stack if f.deadline is not None and now >= f.deadline]
    if expired:
        owner = min(expired, key=lambda f: f.deadline)
        raise _exceeded(owner, stack, now)


def remaining() -> float | None:
    """Seconds left of the tightest open budget of this thread (None: no budget).

    Examples
    --------
    >>> with time_budget(30, "outer"), time_budget(100, "inner"):
    ...     remaining() <= 30          # a nested budget cannot extend the outer one
    True
    """
    deadlines = [f.deadline for f in _LOCAL.stack if f.deadline is not None]
    if not deadlines:
        return None
    return max(0.0, min(deadlines) - time.monotonic())


# -- internals ------------------------------------------------------------------------


def _checked_seconds(seconds: object, stage: str) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise InvalidInputError(
            f"timeout = {seconds!r} for {stage} is a {type(seconds).__name__}, not a number "
            "of seconds; pass e.g. timeout=60, or timeout=None for no budget"
        )
    value = float(seconds)
    if math.isnan(value) or value <= 0:
        raise InvalidInputError(
            f"timeout = {seconds!r} for {stage} is not a positive number of seconds; pass "
            "e.g. timeout=60, or timeout=None for no budget"
        )
    return None if math.isinf(value) else value


def _timed(stack: list[_Frame]) -> bool:
    return any(f.deadline is not None for f in stack)


def _main_thread() -> bool:
    return _HAS_ALARM and threading.current_thread() is threading.main_thread()


def _install() -> bool:
    """Take SIGALRM over (once per outermost budget); False: stay cooperative."""
    if _ALARM.installed:
        return True
    previous = signal.getsignal(signal.SIGALRM)
    if previous is None:  # a handler installed outside Python: leave it alone
        return False
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    _ALARM.previous_handler = previous
    _ALARM.previous_deadline = time.monotonic() + left if left > 0 else None
    _ALARM.previous_interval = interval
    signal.signal(signal.SIGALRM, _on_alarm)
    gc.callbacks.insert(0, _gc_starts)
    gc.callbacks.append(_gc_stops)
    _ALARM.installed = True
    return True


def _uninstall() -> None:
    """Give SIGALRM back: the previous handler, and its timer with the time it has left."""
    _ALARM.installed = False  # first: an alarm landing from here on is ignored
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, _ALARM.previous_handler)
    for callback in (_gc_starts, _gc_stops):
        if callback in gc.callbacks:
            gc.callbacks.remove(callback)
    _ALARM.collecting, _ALARM.waiting_since = False, None
    due, interval = _ALARM.previous_deadline, _ALARM.previous_interval
    _ALARM.previous_handler, _ALARM.previous_deadline = None, None
    if due is not None:
        signal.setitimer(signal.ITIMER_REAL, max(due - time.monotonic(), _MIN_DELAY), interval)


def _arm(now: float) -> None:
    """Arm the timer for the next due budget (or foreign timer) of the main thread."""
    due = [f.next_fire for f in _LOCAL.stack if f.next_fire is not None]
    if _ALARM.previous_deadline is not None and callable(_ALARM.previous_handler):
        due.append(_ALARM.previous_deadline)
    if due:
        signal.setitimer(signal.ITIMER_REAL, max(min(due) - now, _MIN_DELAY))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if not _ALARM.installed:
        return  # a late alarm while the budget is being given back
    where = "finalizer" if _ALARM.collecting else _unraisable(frame)
    now = time.monotonic()
    if where == "finalizer" and _ALARM.waiting_since is None:
        _ALARM.waiting_since = now
    if where == "bookkeeping" or (
        where == "finalizer" and now - _ALARM.waiting_since < MAX_WAIT_SECONDS
    ):
        signal.setitimer(signal.ITIMER_REAL, _DEFER)  # an error here would be lost: come back
        return
    _ALARM.waiting_since = None
    foreign = _ALARM.previous_deadline
    if foreign is not None and now >= foreign and callable(_ALARM.previous_handler):
        interval = _ALARM.previous_interval
        _ALARM.previous_deadline = now + interval if interval > 0 else None
        _arm(now)
        _ALARM.previous_handler(signum, frame)
        return
    stack = _LOCAL.stack
    expired = [f for f in stack if f.next_fire is not None and now >= f.next_fire]
    if not expired:
        _arm(now)  # early, or left over from a budget already closed
        return
    owner = min(expired, key=lambda f: f.deadline)
    for f in expired:
        f.next_fire = now + REFIRE_SECONDS
    _arm(now)
    raise _exceeded(owner, stack, now)


def _unraisable(frame: FrameType | None) -> str | None:
    """Where an error would leave a mess ('bookkeeping': this module's own code) or be
    lost ('finalizer': a ``__del__`` and what it calls); garbage collection and its
    callbacks are flagged by :func:`_gc_starts`."""
    while frame is not None:
        if frame.f_code.co_filename == _THIS_FILE:
            return "bookkeeping"
        if frame.f_code.co_name == "__del__":
            return "finalizer"
        frame = frame.f_back
    return None


def _gc_starts(phase: str, info: dict) -> None:  # first of gc.callbacks
    if phase == "start":
        _ALARM.collecting = True


def _gc_stops(phase: str, info: dict) -> None:  # last of gc.callbacks
    if phase == "stop":
        _ALARM.collecting = False


def _exceeded(owner: _Frame, stack: list[_Frame], now: float) -> BudgetExceededError:
    """The error for ``owner``'s budget, naming the stages running inside it."""
    index = next(i for i, f in enumerate(stack) if f is owner)
    inner: list[str] = []
    for f in stack[index + 1 :]:
        if not (inner and inner[-1].startswith(f.stage)):  # "the law of 'x'" › "the law"
            inner.append(f.stage)
    text = f"{owner.stage} ran out of its {owner.seconds:g} s time budget"
    if inner:
        text += " during " + " › ".join(inner)
    hint = next((f.hint for f in reversed(stack[index:]) if f.hint), "")
    fix = f"raise the budget ({owner.raise_with})" + (f", or {hint}" if hint else "")
    return BudgetExceededError(
        f"{text}; {fix}",
        stage=inner[-1] if inner else owner.stage,
        owner=owner.stage,
        seconds=float(owner.seconds or 0.0),
    )
