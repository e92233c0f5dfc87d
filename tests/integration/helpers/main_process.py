#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in for a container's main process (gunicorn): records every signal it gets in
a file, one line each ("USR1 <monotonic>"), and on SIGTERM exits with status 3 after
TERM_DELAY seconds (or as told by its arguments)."""
import os
import signal
import sys
import time

record = sys.argv[1]
term_delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
exit_after = float(sys.argv[3]) if len(sys.argv) > 3 else None


def note(text):
    with open(record, "a") as f:
        f.write(f"{text} {time.monotonic():.6f}\n")


def on_signal(signum, frame):
    name = signal.Signals(signum).name[3:]
    note(name)
    if signum == signal.SIGTERM:
        time.sleep(term_delay)
        note("EXIT")
        os._exit(3)


for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU):
    signal.signal(s, on_signal)
note(f"START pid={os.getpid()} pgid={os.getpgid(0)}")
deadline = None if exit_after is None else time.monotonic() + exit_after
while deadline is None or time.monotonic() < deadline:
    time.sleep(0.05)
note("EXIT")
sys.exit(5)
