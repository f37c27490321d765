"""--reload-on-changes: a thread in the daemon that watches the files of
every loaded module (and the entry point) and restarts the process when
one changes. The restart is the daemon's own SIGINT: mod_wsgi-rs then
stops the process gracefully and its Apache parent starts a fresh one."""

import os
import signal
import sys
import threading

INTERVAL = 1.0


def _files(extra):
    for module in list(sys.modules.values()):
        path = getattr(module, '__file__', None)
        if isinstance(path, str) and path:
            if path.endswith(('.pyc', '.pyo')):
                path = path[:-1]
            yield path
    yield from extra


def _changed(seen, path):
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return path in seen  # a file we watched is gone
    return seen.setdefault(path, mtime) != mtime


def _watch(extra, stop):
    seen = {}
    while not stop.wait(INTERVAL):
        for path in list(_files(extra)):
            if _changed(seen, path):
                print('mod_wsgi-express (pid=%d): %s changed, restarting the '
                      'process' % (os.getpid(), path), file=sys.stderr)
                os.kill(os.getpid(), signal.SIGINT)
                return


_started = threading.Event()


def start(extra=()):
    """Starts the watcher once per process."""
    if _started.is_set():
        return
    _started.set()
    stop = threading.Event()
    thread = threading.Thread(target=_watch, args=(list(extra), stop),
                              name='mod_wsgi-express reloader', daemon=True)
    thread.start()
    try:
        import mod_wsgi
        mod_wsgi.subscribe_shutdown(lambda *args, **kwargs: stop.set())
    except (ImportError, AttributeError):
        pass
