# A WSGI application that records what the lifecycle does to it: shutdown
# and signal events, atexit, request events, in marker files the tests read.
import atexit
import json
import os
import threading
import time

import mod_wsgi

MARKERS = os.path.join(os.path.dirname(__file__), 'markers')
GROUP = (mod_wsgi.application_group or 'GLOBAL').replace('|', '_').replace('/', '_').replace(':', '_')
EVENTS = []
HELD = []
LAST_FINISHED = {}
LAST_STARTED = {}


def mark(kind, text):
    name = '%s-%s-%d' % (kind, GROUP, os.getpid())
    with open(os.path.join(MARKERS, name), 'a') as f:
        f.write(text + '\n')


@mod_wsgi.subscribe_shutdown
def on_stop(event, **details):
    reason, cause = details.get('shutdown_reason'), details.get('shutdown_cause')
    # mod_wsgi's reason, and ours where it says more.
    text = '%s %s' % (event, reason) if cause == reason else '%s %s (%s)' % (event, reason, cause)
    mark('stopping', text)
    # Which thread ran it (a prefork child stops on a thread of ours, not
    # inside Apache's signal handler on its main thread).
    mark('stopthread', threading.current_thread().name)


@mod_wsgi.subscribe_signals
def on_signal(event, **details):
    mark('signal', '%s %s' % (details.get('signame'), details.get('signum')))


atexit.register(lambda: mark('atexit', 'ran'))


class Finalized:
    """Writes a marker when the interpreter is torn down (its module
    globals are cleared), which atexit alone does not do."""

    def __init__(self):
        self.path = os.path.join(MARKERS, 'finalized-%s-%d' % (GROUP, os.getpid()))
        self.open = open

    def __del__(self):
        with self.open(self.path, 'a') as f:
            f.write('finalized\n')


FINALIZED = Finalized()
# Written on every request and never flushed: its bytes reach the file only
# if the interpreter is torn down (or the buffer fills).
UNFLUSHED = open(os.path.join(MARKERS, 'unflushed-%s-%d' % (GROUP, os.getpid())), 'w')


def replacement(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'replaced application']


@mod_wsgi.subscribe_events
def on_event(name, **details):
    if name in ('request_started', 'response_started', 'request_finished', 'request_exception'):
        EVENTS.append(name)
    if name == 'request_finished' and mod_wsgi.request_data().get('path') == '/read':
        LAST_FINISHED.clear()
        LAST_FINISHED.update({k: v for k, v in details.items()
                              if isinstance(v, (int, float, str)) or v is None})
    if name == 'request_started':
        mod_wsgi.request_data()['request_id_seen'] = details['request_id']
        path = details['request_environ'].get('PATH_INFO')
        if path == '/read':
            LAST_STARTED.clear()
            LAST_STARTED.update({k: v for k, v in details.items()
                                 if isinstance(v, (int, float, str)) or v is None})
        mod_wsgi.request_data()['path'] = path
        if path == '/replace':
            return {'application_object': replacement}
        if path == '/bad-subscriber':
            raise ValueError('subscriber failed on purpose')


def hang_forever(event, **details):
    mark('hanging', 'subscriber entered')
    while True:
        time.sleep(1)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    UNFLUSHED.write('request %s\n' % path)
    if path == '/events':
        body = json.dumps({'events': EVENTS[-8:], 'data': mod_wsgi.request_data(),
                           'request_id': environ.get('mod_wsgi.request_id'),
                           'pid': os.getpid()}).encode()
    elif path == '/thread':
        # A non-daemon thread that never ends: must not keep the process alive.
        threading.Thread(target=lambda: [time.sleep(0.1) for _ in iter(int, 1)], daemon=False).start()
        body = b'thread started'
    elif path == '/daemon-thread':
        # A daemon thread that never ends: Python stops it only when the
        # whole runtime ends, so a sub-interpreter holding one is kept.
        threading.Thread(target=lambda: [time.sleep(0.1) for _ in iter(int, 1)], daemon=True,
                         name='forever').start()
        body = b'daemon thread started'
    elif path == '/hang-on-stop':
        mod_wsgi.subscribe_shutdown(hang_forever)
        body = b'will hang'
    elif path == '/stuck':
        mark('stuck', 'started')  # one line per run, in a file per process
        time.sleep(float(environ.get('QUERY_STRING') or '30'))
        body = b'unstuck'
    elif path == '/spin-cpu':
        # Until this process has used N more seconds of CPU (however busy
        # the machine is), at most 30 s of wall time.
        want = time.process_time() + float(environ.get('QUERY_STRING') or '2')
        cap = time.time() + 30
        while time.process_time() < want and time.time() < cap:
            pass
        body = b'spun'
    elif path == '/spin':
        # Busy in Python code: uses CPU, and an injected exception lands.
        end = time.time() + float(environ.get('QUERY_STRING') or '30')
        while time.time() < end:
            pass
        body = b'spun'
    elif path == '/hold-gil':
        # Blocked in C without releasing the GIL (ctypes.PyDLL keeps it).
        import ctypes
        ctypes.PyDLL(None).sleep(int(environ.get('QUERY_STRING') or '30'))
        body = b'released'
    elif path == '/grow':
        HELD.append(b'x' * (int(environ.get('QUERY_STRING') or '100') << 20))
        body = b'grown'
    elif path == '/read':
        body = b'read %d' % len(environ['wsgi.input'].read())
    elif path == '/finished':
        body = json.dumps(dict(LAST_FINISHED, pid=os.getpid(), started=LAST_STARTED)).encode()
    elif path == '/raise':
        raise RuntimeError('lifecycle app raised on purpose')
    else:
        body = ('pid %d' % os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
