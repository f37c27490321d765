"""start-server's foreground run. Apache runs as this process's child, in
the foreground (-DFOREGROUND); this process stays to turn a container's
stop signal into a graceful stop and to reap orphans when it is PID 1.

- SIGTERM or SIGINT: graceful-stop (SIGWINCH to httpd). Requests in flight
  finish, bounded by GracefulShutdownTimeout; a second one stops at once.
- SIGHUP: restart; SIGUSR1: graceful restart (passed on as they are).
- Every child that exits is reaped; the exit status is httpd's."""

import os
import signal
import subprocess

FORWARD = {signal.SIGHUP: signal.SIGHUP, signal.SIGUSR1: signal.SIGUSR1}


def run(apachectl):
    """Runs `apachectl start -DFOREGROUND` until Apache exits; its status."""
    child = subprocess.Popen([apachectl, 'start', '-DFOREGROUND'])
    stops = []

    def on_stop(signum, frame):
        stops.append(signum)
        # First: drain (graceful-stop); again: stop now.
        sig = signal.SIGWINCH if len(stops) == 1 else signal.SIGTERM
        _send(child.pid, sig)

    def on_forward(signum, frame):
        _send(child.pid, FORWARD[signum])

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    for sig in FORWARD:
        signal.signal(sig, on_forward)
    return _reap_until(child.pid)


def _send(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap_until(pid):
    """Waits for any child (orphans re-parented to PID 1 too) until `pid`
    exits; its exit status as a shell gives it."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
                else 128 + os.WTERMSIG(status)

