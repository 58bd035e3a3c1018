"""Signals while tags are put back wait for the roll back to finish, and are not lost."""

from __future__ import annotations

import os
import signal
import threading
import time

from bakepy.publish.merge import _signals_deferred


def test_a_signal_during_the_roll_back_waits_and_is_reported() -> None:
    steps: list[str] = []
    with _signals_deferred() as pending:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # where an undeferred signal would have raised KeyboardInterrupt
        steps.append("the roll back ran to its end")
    assert steps == ["the roll back ran to its end"]
    assert pending == [signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_outside_the_main_thread_nothing_is_held() -> None:
    seen: list[list[int]] = []

    def work() -> None:
        with _signals_deferred() as pending:
            seen.append(pending)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [[]]
