"""Time budgets and memory ceilings (symnoether.budget): runaway work stops with a clear error.

Each slow workload below is bounded (it gives up by itself after ~20 s), so a
broken budget makes these tests fail, never hang. Latency bounds are generous
(the deadline plus 2 s): they check that the budget holds, not how fast it fires.
"""

from __future__ import annotations

import gc
import math
import signal
import sys
import textwrap
import threading
import time

import pytest
import sympy as sp

import symnoether as sn
from symnoether.budget import (
    MAX_TIMER_SECONDS,
    REFIRE_SECONDS,
    STUCK_SECONDS,
    check,
    memory_budget,
    remaining,
    resident_bytes,
    time_budget,
)
from symnoether.cli import main
from symnoether.errors import BudgetExceededError, SearchTooLargeError
from symnoether.symmetry import find_symmetries

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "setitimer"), reason="SIGALRM timers need a POSIX platform"
)

GIVE_UP = 20.0  # a slow workload stops by itself after this many seconds
SLACK = 2.0  # the error must come within the budget plus this many seconds

x, y, z = sp.symbols("x y z")


def slow_symbolic_work(*, cooperative: bool = False) -> None:
    """SymPy expansions that would take GIVE_UP seconds; each one ~0.1–1 s."""
    start = time.perf_counter()
    power = 12
    while time.perf_counter() - start < GIVE_UP:
        sp.expand((x + y + z + 1) ** power)
        power = min(power + 4, 60)
        if cooperative:
            check()


def elapsed_until_error(seconds: float, **options) -> tuple[float, BudgetExceededError]:
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError) as info:
        with time_budget(seconds, **options):
            slow_symbolic_work()
    return time.perf_counter() - start, info.value


@pytest.fixture(autouse=True)
def no_alarm_left_behind():
    """Each test must leave SIGALRM's handler as it found it, and no timer of its own."""
    before = signal.getsignal(signal.SIGALRM)
    timer_before = signal.getitimer(signal.ITIMER_REAL)
    yield before
    handler = signal.getsignal(signal.SIGALRM)
    timer = signal.getitimer(signal.ITIMER_REAL)
    if timer_before == (0.0, 0.0):
        signal.setitimer(signal.ITIMER_REAL, 0)  # whatever happened, leave the process sane
    signal.signal(signal.SIGALRM, before)
    assert handler == before, "the budget did not give SIGALRM back"
    assert timer_before != (0.0, 0.0) or timer == (0.0, 0.0), "a timer was left armed"


# -- the budget itself ------------------------------------------------------------------


def test_slow_expand_stops_soon_after_the_deadline():
    elapsed, error = elapsed_until_error(0.5, stage="the expansion", hint="expand less")
    assert 0.5 <= elapsed < 0.5 + SLACK
    assert str(error) == (
        "the expansion ran out of its 0.5 s time budget; raise the budget "
        "(timeout=SECONDS), or expand less"
    )
    assert (error.stage, error.owner, error.seconds) == ("the expansion", "the expansion", 0.5)
    assert isinstance(error, sn.SymnoetherError)


def test_timer_is_disarmed_afterwards_no_stray_alarm():
    calls = []

    def mine(*args):
        calls.append(args)

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        elapsed_until_error(0.2, stage="fired")
        assert signal.getsignal(signal.SIGALRM) is mine
        with time_budget(0.2, "finished in time"):
            sp.expand((x + 1) ** 3)
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is mine
        time.sleep(0.5)  # past both deadlines
        assert calls == []
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_inner_budget_fires_first_and_names_itself():
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError, match="^inner ran out of its 0.3 s") as info:
        with time_budget(30, "outer"):
            with time_budget(0.3, "inner", hint="do less"):
                slow_symbolic_work()
    assert time.perf_counter() - start < 0.3 + SLACK
    assert info.value.owner == "inner"


def test_outer_budget_cannot_be_extended_by_an_inner_one():
    with time_budget(0.4, "outer", hint="outer hint"), time_budget(30, "inner stage"):
        assert remaining() <= 0.4
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError) as info:
        with time_budget(0.4, "outer", hint="outer hint"):
            with time_budget(30, "inner stage"):
                slow_symbolic_work()
    assert time.perf_counter() - start < 0.4 + SLACK
    assert str(info.value).startswith("outer ran out of its 0.4 s time budget during inner stage;")
    assert (info.value.owner, info.value.stage) == ("outer", "inner stage")


def test_outer_budget_holds_after_an_inner_one_closes():
    """Leaving the inner budget re-arms the timer for the outer one."""
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError, match="^outer ran out of its 0.6 s"):
        with time_budget(0.6, "outer"):
            with time_budget(30, "inner"):
                sp.expand((x + y + 1) ** 5)
            slow_symbolic_work()
    assert 0.6 <= time.perf_counter() - start < 0.6 + SLACK


def test_labels_name_the_stage_without_a_deadline():
    with time_budget(None, "a label alone"):  # no budget open: costs nothing, sets no timer
        assert remaining() is None
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with pytest.raises(BudgetExceededError) as info:
        with time_budget(0.3, "derive()"):
            with time_budget(None, "the Noether law of 'scale'", hint="simplify the loss"):
                with time_budget(None, "the Noether law"):  # a prefix of the label above
                    slow_symbolic_work()
    assert str(info.value) == (
        "derive() ran out of its 0.3 s time budget during the Noether law of 'scale'; "
        "raise the budget (timeout=SECONDS), or simplify the loss"
    )


def test_a_swallowed_error_is_raised_again():
    swallowed = 0
    with pytest.raises(BudgetExceededError):
        with time_budget(0.3, "stubborn code"):
            for _ in range(3):
                try:
                    slow_symbolic_work()
                except Exception:  # code that swallows everything, as some SymPy code does
                    swallowed += 1
            slow_symbolic_work()
    assert swallowed >= 1
    assert REFIRE_SECONDS <= 0.5


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_no_error_is_lost_in_garbage_collection_or_finalizers(monkeypatch):
    """An error raised in a gc callback or a __del__ would be printed and dropped
    ("Exception ignored in …"); the alarm waits until they have finished."""
    lost, finished = [], []
    monkeypatch.setattr(sys, "unraisablehook", lost.append)

    def slow_callback(phase, info):
        if phase == "start":
            busy(0.4)
            finished.append("gc callback")

    class Slow:
        def __del__(self):
            busy(0.4)
            finished.append("__del__")

    gc.callbacks.append(slow_callback)
    try:
        with pytest.raises(BudgetExceededError):
            with time_budget(0.1, "collecting"):
                gc.collect()
                slow_symbolic_work()
        with pytest.raises(BudgetExceededError):
            with time_budget(0.1, "finalizing"):
                slow = Slow()
                del slow
                slow_symbolic_work()
    finally:
        gc.callbacks.remove(slow_callback)
    assert "__del__" in finished and "gc callback" in finished
    assert lost == []


def test_a_previous_timer_gets_its_time_back_and_its_handler_called():
    calls = []
    previous = signal.signal(signal.SIGALRM, lambda *args: calls.append(time.perf_counter()))
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)
        with time_budget(30, "short work"):
            time.sleep(0.2)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0.5 < left < 1.4  # restored, minus the time spent inside
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # falls due inside the next budget
        start = time.perf_counter()
        with time_budget(30, "long work"):
            while not calls and time.perf_counter() - start < 5:
                time.sleep(0.01)
        assert calls and calls[0] - start < 0.3 + SLACK  # delivered on time, not at exit
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_cooperative_budget_in_another_thread(no_alarm_left_behind):
    outcome = {}

    def worker():
        start = time.perf_counter()
        try:
            with time_budget(0.3, "the worker's search"):
                slow_symbolic_work(cooperative=True)
        except BudgetExceededError as error:
            outcome["error"] = error
        outcome["elapsed"] = time.perf_counter() - start

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert "the worker's search ran out" in str(outcome["error"])
    assert outcome["elapsed"] < 0.3 + SLACK
    assert signal.getsignal(signal.SIGALRM) == no_alarm_left_behind  # main thread untouched


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, "10", True, sp.Symbol("t")])
def test_bad_timeouts_are_rejected_naming_the_stage(bad):
    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
    with pytest.raises(sn.InvalidInputError, match="timeout = .* for derive()"):
        sn.derive(flow, {"rescale": (w1, -w2)}, timeout=bad)
    with pytest.raises(sn.InvalidInputError, match="for the Noether law"):
        sn.noether(flow, (w1, -w2), timeout=bad)
    with pytest.raises(sn.InvalidInputError, match="for the symmetry search"):
        flow.symmetries(timeout=bad)


def test_infinite_or_generous_budgets_change_nothing():
    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    law = sn.noether(flow, (w1, -w2), timeout=math.inf)
    assert sp.expand(law.charge - (w1**2 - w2**2) / 2) == 0  # hand derivation
    deriv = sn.derive(flow, timeout=60)
    assert [s.kind for s in flow.symmetries(timeout=60)] == ["rescale"]
    assert deriv.laws[0].conserved


# -- the stages: search, Noether, derive ------------------------------------------------


def heavy_loss_system(rule):
    """(w1w2w3w4 − x + w1 + w2)^16: its Noether law takes ~10 s without a budget."""
    w = sn.coordinates("w1:5")
    (data,) = sn.data("x")
    loss = (w[0] * w[1] * w[2] * w[3] - data + w[0] + w[1]) ** 16
    return sn.LearningSystem(w, loss, rule=rule, data=(data,)), w


def heavy_search_loss(n: int = 20):
    """A smooth loss of 20 coordinates: the general search takes ~20 s without a budget."""
    q = sn.coordinates(f"q1:{n + 1}")
    logits = sum(c * (i % 3 + 1) for i, c in enumerate(q))
    chain = sum((q[i] - q[i + 1]) ** 2 for i in range(n - 1))
    return sp.log(1 + sp.exp(logits)) + sp.sqrt(1 + chain), q


def test_noether_stops_at_its_timeout():
    eta = sp.Symbol("eta", positive=True)
    system, w = heavy_loss_system(sn.rules.gradient_descent(eta))
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError) as info:
        sn.noether(system, (w[0], -w[1], 0, 0), timeout=0.5)
    assert time.perf_counter() - start < 0.5 + SLACK
    message = str(info.value)
    assert message.startswith("the Noether law ran out of its 0.5 s time budget;")
    assert "timeout=SECONDS" in message and "simplify the loss" in message


def test_symmetry_search_stops_at_its_timeout():
    loss, q = heavy_search_loss()
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError) as info:
        find_symmetries(loss, q, timeout=0.5)
    assert time.perf_counter() - start < 0.5 + SLACK
    message = str(info.value)
    assert message.startswith("the symmetry search ran out of its 0.5 s time budget;")
    assert "mode='structured'" in message and "pass the generators" in message


def test_derive_names_the_stage_that_was_running():
    loss, q = heavy_search_loss()
    flow = sn.LearningSystem(q, loss, rule=sn.rules.gradient_flow())
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError) as info:
        sn.derive(flow, timeout=0.5)  # no generators: the symmetry search runs first
    assert time.perf_counter() - start < 0.5 + SLACK
    assert str(info.value).startswith(
        "derive() ran out of its 0.5 s time budget during the symmetry search;"
    )
    with pytest.raises(BudgetExceededError, match="^the symmetry search ran out of its 0.3 s"):
        flow.symmetries(timeout=0.3)


def test_an_interrupted_law_can_be_derived_again_unchanged():
    """Interrupting SymPy leaves no half-made cached result: the same call, repeated
    without a budget, gives the hand-derived law Q = e^{2t/η}(η/2)(w1ẇ1 − w2ẇ2)."""
    eta = sp.Symbol("eta", positive=True)
    w1, w2, w3 = sn.coordinates("w1:4")
    (data,) = sn.data("x")
    loss = (w1 * w2 * w3 - data) ** 6
    system = sn.LearningSystem(
        (w1, w2, w3), loss, rule=sn.rules.gradient_descent(eta), data=(data,)
    )
    with pytest.raises(BudgetExceededError):
        sn.derive(system, {"rescale": (w1, -w2, 0)}, timeout=0.01)
    law = sn.derive(system, {"rescale": (w1, -w2, 0)}).law("rescale")
    v1, v2, _ = sn.velocities((w1, w2, w3))
    t = system.time
    assert sp.simplify(law.charge - sp.exp(2 * t / eta) * eta / 2 * (w1 * v1 - w2 * v2)) == 0
    assert law.loss_breaking == 0


def test_specfile_derive_passes_the_timeout():
    spec = sn.loads(
        textwrap.dedent(
            """
            [system]
            coordinates = ["w1", "w2", "w3", "w4"]
            data = ["x"]
            loss = "(w1*w2*w3*w4 - x + w1 + w2)**16"
            rule = "gradient_flow"
            [generators]
            rescale = ["w1", "-w2", "0", "0"]
            """
        )
    )
    with pytest.raises(BudgetExceededError, match=r"^derive\(\) ran out of its 0.4 s"):
        spec.derive(timeout=0.4)


# -- the command line ------------------------------------------------------------------


def test_cli_timeout_prints_one_error_line_and_exits_2(tmp_path, capsys, slow_script):
    script = tmp_path / "slow.py"
    script.write_text(slow_script, encoding="utf-8")
    latex = tmp_path / "out.tex"
    start = time.perf_counter()
    code = main(["run", str(script), "--timeout", "0.5", "--latex", str(latex)])
    assert time.perf_counter() - start < 0.5 + SLACK
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines[0] == (
        "symnoether: error: symnoether run ran out of its 0.5 s time budget during the "
        "derivation; raise the budget (--timeout SECONDS), or simplify the loss, or name the "
        "generators in the script (sn.derive(system, generators)) or spec file ([generators])"
    )
    assert len(lines) == 2 and lines[1].startswith("  hint: ")
    assert "Traceback" not in captured.err and captured.out == ""
    assert not latex.exists()


def test_cli_generous_timeout_runs_normally(tmp_path, capsys):
    spec = tmp_path / "pair.toml"
    spec.write_text(
        textwrap.dedent(
            """
            [system]
            coordinates = ["w1", "w2"]
            loss = "(1 - w1*w2)**2/2"
            rule = "gradient_flow"
            [generators]
            rescale = ["w1", "-w2"]
            """
        ),
        encoding="utf-8",
    )
    assert main(["run", str(spec), "--timeout", "60"]) == 0
    assert "rescale" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["-3", "nan", "soon", ""])
def test_cli_rejects_a_bad_timeout(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path / "any.py"), "--timeout", bad])
    assert info.value.code == 2
    assert "not a positive number of seconds (or 'none' for no limit)" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["-1", "nan", "lots"])
def test_cli_rejects_a_bad_memory_ceiling(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path / "any.py"), "--memory", bad])
    assert info.value.code == 2
    assert "not a positive number of GiB (or 'none' for no limit)" in capsys.readouterr().err


# -- memory ceilings -----------------------------------------------------------------

MIB = 2**20


def grow(limit_bytes: float, store: list) -> None:
    """Allocate 8 MiB at a time until resident memory passes ``limit_bytes`` + 256 MiB
    (so a broken ceiling fails the test, never exhausts the machine), then wait 5 s.
    The pace (8 MiB per 20 ms) leaves the 50 ms watchdog several polls to act even on
    a loaded machine, where its thread may be scheduled late."""
    while (resident_bytes() or 0) < limit_bytes + 256 * MIB:
        store.append(bytearray(b"\x01") * (8 * MIB))
        time.sleep(0.02)
    time.sleep(5)


def test_memory_ceiling_stops_the_main_thread_naming_stage_and_ceiling():
    ceiling = resident_bytes() + 48 * MIB
    store: list = []
    start = time.perf_counter()
    with pytest.raises(BudgetExceededError) as info:
        with memory_budget(ceiling, "the expansion", hint="expand less", raise_with="--memory"):
            with time_budget(None, "the inner step"):
                grow(ceiling, store)
    assert time.perf_counter() - start < 2.0  # not the 5 s wait: raised while growing
    allocated = len(store) * 8 * MIB
    store.clear()
    message = str(info.value)
    # the ceiling in the largest binary unit it reaches (this process may hold > 1 GiB)
    size = f"{ceiling / 2**30:.3g} GiB" if ceiling >= 2**30 else f"{ceiling / MIB:.3g} MiB"
    assert message.startswith(f"the expansion reached its memory ceiling of {size}")
    assert "during the inner step; raise the ceiling (--memory), or expand less" in message
    assert (info.value.owner, info.value.stage, info.value.seconds) == (
        "the expansion", "the inner step", 0.0)  # fmt: skip
    assert allocated < 48 * MIB + 256 * MIB  # stopped while growing, before grow's own cap


def test_memory_ceiling_in_another_thread_is_cooperative(no_alarm_left_behind):
    outcome: dict = {}

    def worker():
        store: list = []
        ceiling = resident_bytes() + 32 * MIB
        try:
            with memory_budget(ceiling, "the worker's step"):
                while len(store) < 40:  # 40 × 8 MiB passes the ceiling
                    store.append(bytearray(b"\x01") * (8 * MIB))
                    time.sleep(0.02)
                    check()
        except BudgetExceededError as error:
            outcome["error"] = error
        store.clear()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert "the worker's step reached its memory ceiling" in str(outcome["error"])
    assert signal.getsignal(signal.SIGALRM) == no_alarm_left_behind


def test_memory_error_inside_a_ceiling_is_a_budget_error():
    with pytest.raises(BudgetExceededError, match=r"^the step ran out of memory \(the system"):
        with memory_budget(64 * 2**30, "the step"):
            raise MemoryError
    with pytest.raises(SearchTooLargeError):  # says what to do already
        with memory_budget(64 * 2**30, "the step"):
            raise SearchTooLargeError("too many unknowns")
    with pytest.raises(MemoryError):  # no ceiling: not ours to reword
        with time_budget(60, "a timed step"):
            raise MemoryError


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, "4GB"])
def test_bad_memory_ceilings_are_rejected(bad):
    with pytest.raises(sn.InvalidInputError, match="memory = .* for the step"):
        memory_budget(bad, "the step")


def test_a_block_stuck_past_its_deadline_calls_on_stuck():
    """SIGALRM blocked in a sleep: as inside compiled code, no handler runs until it ends;
    the watchdog calls on_stuck once, STUCK_SECONDS after the deadline."""
    stuck: list = []
    with pytest.raises(BudgetExceededError):
        with time_budget(0.2, "the compiled loop", on_stuck=stuck.append):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:  # one call in C that no signal of this thread interrupts
                time.sleep(0.2 + STUCK_SECONDS + 1.0)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    (error,) = stuck
    assert str(error).startswith(
        f"the compiled loop ran out of its 0.2 s time budget, and was still inside compiled "
        f"code {STUCK_SECONDS:g} s later;"
    )


def test_very_long_budgets_arm_no_overflowing_timer():
    with time_budget(1e300, "practically forever"):
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= MAX_TIMER_SECONDS
        assert remaining() > 1e299
