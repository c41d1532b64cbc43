r"""Time budgets and memory ceilings: stop with a clear error instead of running for hours.

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
- Timers longer than :data:`MAX_TIMER_SECONDS` are armed in steps (``--timeout
  1e300`` means "practically never", not an ``OverflowError``).

:func:`memory_budget` is the same for memory: a watchdog thread reads the
process's resident memory (:func:`resident_bytes`) every :data:`POLL_SECONDS`
and, once it exceeds the ceiling, makes the budget's thread raise
:class:`~symnoether.errors.BudgetExceededError` — the main thread at once
(``SIGALRM`` sent with :func:`signal.pthread_kill`, through the handler above),
another thread at its next :func:`check`. Resident memory, not address space:
``RLIMIT_AS`` would make numba/LLVM abort instead of raise, and counts the
reserved but unused stacks of threads. A ``MemoryError`` inside a memory budget
is reported the same way. The ceiling bounds the whole process, not only the
work inside the block.

A compiled loop (numba ``nogil`` code, a LAPACK call) does not come back to
Python until it finishes, so no handler can stop it. A command-line tool passes
``on_stuck`` to :class:`time_budget`: when the block is still running
:data:`STUCK_SECONDS` after its deadline, the watchdog thread calls it with the
error (``symnoether run`` prints it and exits with code 2). A library never
does: numba loops are bounded in steps instead (``max_steps``).

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
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from .errors import BudgetExceededError, InvalidInputError, SymnoetherError

__all__ = ["time_budget", "memory_budget", "check", "remaining", "resident_bytes"]
__all__ += ["default_memory_limit", "REFIRE_SECONDS", "MAX_WAIT_SECONDS", "POLL_SECONDS"]
__all__ += ["STUCK_SECONDS", "MAX_TIMER_SECONDS", "GIB"]

REFIRE_SECONDS = 0.1
"""Delay after which a budget error that was swallowed is raised again."""
MAX_WAIT_SECONDS = 2.0
"""Longest the alarm waits for a finalizer or garbage collection to finish."""
POLL_SECONDS = 0.05
"""How often the watchdog thread reads the resident memory."""
STUCK_SECONDS = MAX_WAIT_SECONDS + 1.0
"""After its deadline, how long a block with ``on_stuck`` may run before it is called."""
MAX_TIMER_SECONDS = 1e6
"""Longest single timer armed; a later deadline is reached in steps."""
GIB = 2**30
"""Bytes in a gibibyte."""

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
    memory: float | None = None  # ceiling of resident bytes; None: no ceiling
    rss: float | None = None  # the resident bytes that tripped the ceiling
    stack: list | None = None  # the stack of the thread it runs in (for the watchdog)


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
    memory : float or None
        A ceiling on the process's resident memory in bytes (see :func:`memory_budget`).
    on_stuck : callable, optional
        Called from the watchdog thread with the error when the block still runs
        :data:`STUCK_SECONDS` after the deadline (inside compiled code that never
        returns to Python). For command-line tools, which print and exit; the
        block itself keeps running if it returns.

    Raises
    ------
    InvalidInputError
        ``seconds`` or ``memory`` is not a positive number (on construction).
    BudgetExceededError
        Inside the block, once the deadline has passed or the memory ceiling is reached.

    Examples
    --------
    >>> with time_budget(60, "a quick step"):
    ...     remaining() <= 60
    True
    >>> remaining() is None          # no budget outside the block
    True
    """

    __slots__ = ("seconds", "memory", "stage", "hint", "raise_with", "on_stuck", "_frames")

    def __init__(
        self,
        seconds: float | None,
        stage: str,
        *,
        hint: str = "",
        raise_with: str = "timeout=SECONDS",
        memory: float | None = None,
        on_stuck: Callable[[BudgetExceededError], object] | None = None,
    ) -> None:
        self.seconds = _checked(seconds, stage, "timeout", "seconds", "timeout=60")
        self.memory = _checked(memory, stage, "memory", "bytes", "memory=2**32")
        self.stage = stage
        self.hint = hint
        self.raise_with = raise_with
        self.on_stuck = on_stuck
        self._frames: list[_Frame | None] = []

    def __enter__(self) -> time_budget:
        stack = _LOCAL.stack
        if self.seconds is None and self.memory is None and not _bounded(stack):
            self._frames.append(None)
            return self
        now = time.monotonic()
        deadline = None if self.seconds is None else now + self.seconds
        frame = _Frame(self.stage, self.hint, self.raise_with, self.seconds, deadline, deadline)
        frame.memory, frame.stack = self.memory, stack
        stack.append(frame)
        self._frames.append(frame)
        stuck = self.on_stuck if deadline is not None else None
        if self.memory is not None or stuck is not None:
            _watch(frame, stuck)
        if (deadline, self.memory) != (None, None) and _main_thread() and _install():
            _arm(now)
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> bool:
        frame = self._frames.pop()
        if frame is None:
            return False
        _unwatch(frame)
        stack = _LOCAL.stack
        while stack:
            if stack.pop() is frame:
                break
        if _ALARM.installed and _main_thread():
            if _bounded(stack):
                _arm(time.monotonic())
            else:
                _uninstall()
        if frame.memory is not None and isinstance(error, MemoryError):
            if not isinstance(error, SymnoetherError):  # SearchTooLargeError says it all
                frame.rss = resident_bytes() or frame.memory
                raise _exceeded(frame, [frame], time.monotonic(), why="refused") from None
        return False


def memory_budget(
    limit: float | None, stage: str, *, hint: str = "", raise_with: str = "memory=BYTES"
) -> time_budget:
    """A ceiling of ``limit`` bytes of resident memory for the work inside the block.

    A watchdog thread polls :func:`resident_bytes`; past the ceiling the block
    raises :class:`BudgetExceededError` naming the stage and the ceiling (the
    main thread at once, another thread at its next :func:`check`). A
    ``MemoryError`` inside the block becomes the same error. None (or ``inf``)
    sets no ceiling. Nests with :class:`time_budget` like a time budget.

    Examples
    --------
    >>> with memory_budget(64 * GIB, "a small step"):
    ...     sum(range(10))
    45
    >>> try:
    ...     with memory_budget(1, "a step", raise_with="--memory GIB"):
    ...         while True:
    ...             time.sleep(0.01)
    ... except BudgetExceededError as err:
    ...     print(str(err).split(" (resident")[0])
    a step reached its memory ceiling of 1 B
    """
    return time_budget(None, stage, hint=hint, raise_with=raise_with, memory=limit)


def check() -> None:
    """Raise :class:`BudgetExceededError` when a budget of this thread has run out
    (its deadline has passed, or the watchdog found its memory ceiling reached).

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
    expired = [f for f in stack if f.rss is not None or (f.deadline or math.inf) <= now]
    if expired:
        raise _exceeded(min(expired, key=_urgency), stack, now)


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


def resident_bytes() -> int | None:
    """The process's resident memory in bytes (Linux: ``/proc/self/statm``); where
    there is no ``/proc``, its peak so far (``getrusage``); None where neither exists.

    Examples
    --------
    >>> resident_bytes() > 2**20     # a Python process with SymPy loaded
    True
    """
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def default_memory_limit() -> float:
    """4 GiB, or three quarters of the physical memory when that is less.

    Examples
    --------
    >>> 0 < default_memory_limit() <= 4 * GIB
    True
    """
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf
        return 4.0 * GIB
    return float(min(4 * GIB, 0.75 * physical)) if physical > 0 else 4.0 * GIB


# -- internals ------------------------------------------------------------------------

try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf
    _PAGE = 4096


def _checked(value: object, stage: str, name: str, unit: str, example: str) -> float | None:
    if value is None:
        return None
    fix = f"pass e.g. {example}, or {name}=None for no budget"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"{name} = {value!r} for {stage} is a {type(value).__name__}, not a number "
            f"of {unit}; {fix}"
        )
    number = float(value)
    if math.isnan(number) or number <= 0:
        raise InvalidInputError(
            f"{name} = {value!r} for {stage} is not a positive number of {unit}; {fix}"
        )
    return None if math.isinf(number) else number


def _bounded(stack: list[_Frame]) -> bool:
    return any(f.deadline is not None or f.memory is not None for f in stack)


def _urgency(frame: _Frame) -> tuple:
    """Which expired budget the error names: a tripped memory ceiling, else the
    earliest deadline."""
    if frame.rss is not None:
        return (0, frame.memory)
    return (1, frame.deadline)


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
    """Give SIGALRM back: the previous handler, and its timer with the time it has left.
    SIGALRM is blocked meanwhile and one of ours still pending is dropped: under the
    default handler it would end the process ("Alarm clock")."""
    _ALARM.installed = False  # first: an alarm landing from here on is ignored
    masking = hasattr(signal, "pthread_sigmask")
    if masking:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, _ALARM.previous_handler)
        if masking and signal.SIGALRM in signal.sigpending():
            signal.sigwait({signal.SIGALRM})
    finally:
        if masking:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
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
        delay = min(max(min(due) - now, _MIN_DELAY), MAX_TIMER_SECONDS)
        signal.setitimer(signal.ITIMER_REAL, delay)
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
    owner = min(expired, key=_urgency)
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


# -- the watchdog thread: memory ceilings, and blocks stuck past their deadline ---------


class _Watchdog:
    lock = threading.Lock()
    frames: dict[int, tuple] = {}  # id(frame) → (frame, thread ident, on_stuck or None)
    thread: threading.Thread | None = None


def _forget_after_fork() -> None:  # the child has no watchdog thread, and no budgets of it
    _Watchdog.lock, _Watchdog.frames, _Watchdog.thread = threading.Lock(), {}, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _watch(frame: _Frame, on_stuck: Callable | None) -> None:
    with _Watchdog.lock:
        _Watchdog.frames[id(frame)] = (frame, threading.get_ident(), on_stuck)
        if _Watchdog.thread is None:
            _Watchdog.thread = threading.Thread(
                target=_watch_loop, name="symnoether-budget-watchdog", daemon=True
            )
            _Watchdog.thread.start()


def _unwatch(frame: _Frame) -> None:
    with _Watchdog.lock:  # after this, the watchdog sends this frame no signal
        _Watchdog.frames.pop(id(frame), None)


def _watch_loop() -> None:
    while True:
        with _Watchdog.lock:
            if not _Watchdog.frames:
                _Watchdog.thread = None
                return
            watched = list(_Watchdog.frames.values())
            if any(f.memory is not None and f.rss is None for f, _, _ in watched):
                rss, now = resident_bytes(), time.monotonic()
                for frame, ident, _ in watched:
                    _trip(frame, ident, rss, now)
        now = time.monotonic()
        for frame, _, on_stuck in watched:
            late = frame.deadline is not None and now > frame.deadline + STUCK_SECONDS
            if on_stuck is not None and late and _unwatch_if_watched(frame):
                stack = list(frame.stack or [frame])
                on_stuck(_exceeded(frame, stack, now, why="stuck"))
        time.sleep(POLL_SECONDS)


def _trip(frame: _Frame, ident: int, rss: int | None, now: float) -> None:
    """Mark ``frame`` as over its ceiling and interrupt its thread (called holding the lock)."""
    if frame.memory is None or frame.rss is not None or rss is None or rss <= frame.memory:
        return
    frame.rss, frame.next_fire = rss, now
    if ident == threading.main_thread().ident and _ALARM.installed:
        signal.pthread_kill(ident, signal.SIGALRM)  # _on_alarm raises at once


def _unwatch_if_watched(frame: _Frame) -> bool:
    with _Watchdog.lock:
        return _Watchdog.frames.pop(id(frame), None) is not None


def _size(count: float) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def _exceeded(owner: _Frame, stack: list, now: float, *, why: str = "") -> BudgetExceededError:
    """The error for ``owner``'s budget, naming the stages running inside it; ``why``:
    'refused' (a MemoryError), 'stuck' (still in compiled code after the deadline)."""
    if not any(f is owner for f in stack):  # the watchdog raced the block's exit
        stack = [owner]
    index = next(i for i, f in enumerate(stack) if f is owner)
    inner: list[str] = []
    for f in stack[index + 1 :]:
        seen = inner[-1] if inner else owner.stage
        if not seen.startswith(f.stage):  # "the law of 'x'" › "the law"
            inner.append(f.stage)
    if why == "refused":
        text = f"{owner.stage} ran out of memory (the system refused an allocation at "
        text += f"{_size(owner.rss or 0)} resident, under its ceiling of {_size(owner.memory)})"
        fix = "free memory for it"
    elif owner.rss is not None:
        text = f"{owner.stage} reached its memory ceiling of {_size(owner.memory or 0)} "
        text += f"(resident {_size(owner.rss)})"
        fix = f"raise the ceiling ({owner.raise_with})"
    else:
        text = f"{owner.stage} ran out of its {owner.seconds:g} s time budget"
        fix = f"raise the budget ({owner.raise_with})"
    if inner:
        text += " during " + " › ".join(inner)
    if why == "stuck":
        text += f", and was still inside compiled code {STUCK_SECONDS:g} s later"
    hint = next((f.hint for f in reversed(stack[index:]) if f.hint), "")
    fix += f", or {hint}" if hint else ""
    return BudgetExceededError(
        f"{text}; {fix}",
        stage=inner[-1] if inner else owner.stage,
        owner=owner.stage,
        seconds=float(owner.seconds or 0.0),
    )
