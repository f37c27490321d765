"""The `mod_wsgi` module of one interpreter (mod_wsgi-rs): the version,
the process's facts, the event API (subscribe_events / subscribe_shutdown /
subscribe_signals, request_data) and what the host calls as the process
stops. The WSGI adapter itself is `_mod_wsgi_rs_adapter`; everything that
touches the server is a call into the native `_mod_wsgi_rs` module, which
checks its arguments itself."""

import sys
import threading

import _mod_wsgi_rs as _host

# The mod_wsgi API level this module provides (code written for mod_wsgi
# compares against this: mod_wsgi 6.1.1's); `server_version` names the real
# server and `mod_wsgi_rs_version` is its version as a tuple.
version = _host.api_version
server_version = _host.server_version
mod_wsgi_rs_version = tuple(int(p) for p in server_version.split('/')[-1].split('.')[:3])


class RequestTimeout(BaseException):
    """Raised inside a request's thread when the request ran longer than
    the daemon's request-timeout and interrupt-timeout is set. A
    BaseException, as in mod_wsgi 6.1, so that the application's
    `except Exception:` does not swallow it."""


# Filled in by the host right after this module runs.
process_group = ''
application_group = ''
maximum_processes = 1
threads_per_process = 1

# Log levels as Apache numbers them, from the host.
_ERR = _host.LOG_ERR
_WARNING = _host.LOG_WARNING
_INFO = _host.LOG_INFO


def _make_log_handler():
    import logging

    levels = ((logging.CRITICAL, _host.LOG_CRIT), (logging.ERROR, _host.LOG_ERR),
              (logging.WARNING, _host.LOG_WARNING), (logging.INFO, _host.LOG_INFO))

    class LogHandler(logging.Handler):
        """A logging.Handler that writes each record to Apache's error log
        at the matching level (CRITICAL crit, ERROR err, WARNING warn, INFO
        info, lower debug), one line per line of the message, with the
        request's id when logged inside a request."""

        def emit(self, record):
            try:
                text = self.format(record)
                level = _host.LOG_DEBUG
                for at_least, apache_level in levels:
                    if record.levelno >= at_least:
                        level = apache_level
                        break
                for line in text.splitlines() or ['']:
                    _host.log(None, level, line)
            except Exception:
                self.handleError(record)

    return LogHandler


def __getattr__(name):
    # LogHandler imports logging, which most applications load anyway;
    # made on first use, so an interpreter that never asks does not pay.
    if name == 'LogHandler':
        handler = _make_log_handler()
        globals()['LogHandler'] = handler
        return handler
    raise AttributeError("module 'mod_wsgi' has no attribute %r" % name)

# ---- Metrics ------------------------------------------------------------------

def _cpu():
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _memory():
    """(rss, max rss) in bytes."""
    import os
    import resource
    try:
        with open('/proc/self/statm') as f:
            rss = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        rss = 0
    return rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def start_recording_metrics():
    """Turns on metrics accounting for this process (idempotent); before it,
    request_metrics() and process_metrics() return None."""
    _host.start_recording_metrics(*_cpu())


def request_metrics():
    """What happened in this process since the previous call (mod_wsgi 6.1's
    keys), then a new interval starts; None until start_recording_metrics().
    Call it from one reporter thread, not from a request."""
    import os
    user, system = _cpu()
    m = _host.request_interval(user, system)
    if m is None:
        return None
    user0, system0 = m.pop('_cpu_start')
    period = m['sample_period']
    m['pid'] = os.getpid()
    m['cpu_user_utilization'] = (user - user0) / period
    m['cpu_system_utilization'] = (system - system0) / period
    m['cpu_utilization'] = m['cpu_user_utilization'] + m['cpu_system_utilization']
    # mod_wsgi's deprecated aliases of the three rates.
    m['cpu_user_time'] = m['cpu_user_utilization']
    m['cpu_system_time'] = m['cpu_system_utilization']
    m['cpu_time'] = m['cpu_utilization']
    m['memory_rss'], m['memory_max_rss'] = _memory()
    return m


def server_metrics():
    """Apache's scoreboard (every process and worker), as mod_wsgi 6.1 gives
    it, or None unless WSGIServerMetrics On (Apache children) or
    server-metrics=On (a daemon group) allows it."""
    return _host.server_metrics()


def process_metrics():
    """This process's lifetime aggregates (mod_wsgi 6.1's keys), or None
    until start_recording_metrics() was called."""
    totals = _host.process_totals()
    if totals is None:
        return None
    import os
    import resource
    import time
    restart_time, request_count, busy_time, active, request_threads = totals
    usage = resource.getrusage(resource.RUSAGE_SELF)
    now = time.time()
    try:
        with open('/proc/self/statm') as f:
            rss = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        rss = 0
    try:
        threads = len(os.listdir('/proc/self/task'))
    except OSError:
        threads = threading.active_count()
    return {
        'pid': os.getpid(),
        'restart_time': restart_time,
        'current_time': now,
        'running_time': int(now - restart_time),
        'request_count': request_count,
        'request_busy_time': busy_time,
        'request_threads': request_threads,
        'active_requests': active,
        'cpu_user_time': usage.ru_utime,
        'cpu_system_time': usage.ru_stime,
        'cpu_time': usage.ru_utime + usage.ru_stime,
        'memory_rss': rss,
        'memory_max_rss': usage.ru_maxrss * 1024,
        'threads': threads,
    }


# ---- Events (mod_wsgi's API; subscriptions are per interpreter) -------------

# The subscribers, as mod_wsgi 6 exposes them (code may also append to
# these lists directly).
event_callbacks = []
shutdown_callbacks = []
signal_callbacks = []
# request id -> the request_data() dict of each request in flight here.
active_requests = {}
_request = threading.local()


def subscribe_events(callback):
    """Calls callback(name, **details) for every event. Returns callback,
    so it can be used as a decorator."""
    event_callbacks.append(callback)
    return callback


def subscribe_shutdown(callback):
    """Calls callback('process_stopping', shutdown_reason=...) when this
    process is stopping. Returns callback."""
    shutdown_callbacks.append(callback)
    return callback


def subscribe_signals(callback):
    """Calls callback('process_signal', signum=..., signame=...) when the
    process receives SIGHUP or SIGUSR2 (daemon mode). Returns callback."""
    signal_callbacks.append(callback)
    return callback


def request_data():
    """The dictionary of the request this thread is handling."""
    data = getattr(_request, 'data', None)
    if data is None:
        raise RuntimeError('no request is active in this thread')
    return data


def _callbacks(name):
    """Who hears event `name`: every event subscriber, then the shutdown
    or signal subscribers for their event."""
    callbacks = list(event_callbacks)
    if name == 'process_stopping':
        callbacks += shutdown_callbacks
    elif name == 'process_signal':
        callbacks += signal_callbacks
    return callbacks


def _publish(name, handle=None, **details):
    """Calls the subscribers for `name`; a failing one is logged with its
    traceback and the others still run. Returns (dicts returned, failures)."""
    returned, failed = [], []
    for callback in _callbacks(name):
        _host.set_activity('%s subscriber %s' % (name, _describe(callback)))
        try:
            result = callback(name, **details)
        except BaseException:
            failed.append(_describe(callback))
            _host.log(handle, _ERR, 'event subscriber %s raised while handling %s:\n%s'
                      % (_describe(callback), name, _format_exception(*sys.exc_info())))
            continue
        if isinstance(result, dict):
            returned.append(result)
    return returned, failed


def _describe(callback):
    return getattr(callback, '__qualname__', None) or repr(callback)


def _signal(signum, signame):
    """SIGHUP/SIGUSR2 reached this (daemon) process: tell the subscribers."""
    _publish('process_signal', signum=signum, signame=signame)


# Our finer stop causes that mod_wsgi reports under another name.
_MOD_WSGI_REASONS = {'graceful_restart': 'shutdown_signal'}


def _stopping(reason):
    """The process is stopping: tell this interpreter's subscribers why
    (`shutdown_reason` as mod_wsgi names it; `shutdown_cause`, ours, says
    more where mod_wsgi has one name for several causes). Returns the
    subscribers that raised."""
    _, failed = _publish('process_stopping',
                         shutdown_reason=_MOD_WSGI_REASONS.get(reason, reason),
                         shutdown_cause=reason)
    return failed


def _other_threads():
    """The threads of this interpreter an interpreter teardown would meet:
    all but the caller, the interpreter's first thread and the host's own
    request threads (seen here as dummy threads)."""
    current = threading.current_thread()
    main = threading.main_thread()
    return [t for t in threading.enumerate()
            if t is not current and t is not main
            and not isinstance(t, threading._DummyThread)]


def _join_threads(timeout):
    """Waits up to `timeout` seconds for the non-daemon threads (which a
    teardown waits for without end). Returns the names of the threads still
    running: non-daemon ones first, then daemon ones, each marked."""
    import time
    _host.set_activity('waiting for non-daemon threads')
    deadline = time.monotonic() + timeout
    for t in _other_threads():
        if not t.daemon:
            t.join(max(0.0, deadline - time.monotonic()))
    return ['%s (%s)' % (t.name, 'daemon' if t.daemon else 'non-daemon')
            for t in sorted(_other_threads(), key=lambda t: t.daemon)]


def _prepare_finalize():
    """Before Py_FinalizeEx on a thread other than Python's main thread (a
    prefork child stops on a thread of ours, outside Apache's signal
    handler): threading's shutdown waits for every non-daemon thread's
    lock, the main thread's too, which only the main thread itself would
    release. That thread is out of Python for good now (the teardown
    refuses every entry), so it is marked stopped here."""
    main = threading.main_thread()
    if threading.current_thread() is main:
        return
    handle = getattr(main, '_handle', None)
    if handle is not None and hasattr(handle, '_set_done'):
        handle._set_done()          # 3.13
        return
    lock = getattr(main, '_tstate_lock', None)
    if lock is not None and lock.locked():
        lock.release()              # 3.10 - 3.12
    if hasattr(main, '_stop'):
        main._stop()


def _run_atexit():
    """atexit callbacks, for an interpreter that is not torn down."""
    _host.set_activity('atexit callbacks')
    import atexit
    atexit._run_exitfuncs()


def _remember_source(filename, source):
    """Lets tracebacks show the lines of the host's own Python, which is
    compiled from the module, not read from a file (linecache keeps an
    entry whose modification time is None)."""
    import linecache
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _format_exception(exc_type, exc_value, exc_tb):
    import traceback  # only when something failed: it is not small
    return ''.join(traceback.format_exception(exc_type, exc_value, exc_tb))
