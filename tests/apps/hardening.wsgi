# The application of tests/hardening.rs: each path does one thing the
# hardening tests need and reports what it saw.
import json
import os
import threading
import time

MARKER_DIR = os.path.join(os.path.dirname(__file__), 'markers')


def _in_threads(call, times, threads=4):
    """Runs `call` in each of `threads` threads at once until it went
    through `times` times there (or returned b'': the end), retrying a
    call refused with RuntimeError after a millisecond, for 30 s at most;
    (calls that went through, calls refused)."""
    done, refused, lock = [0], [0], threading.Lock()
    deadline = time.monotonic() + 30

    def run():
        ok = 0
        while ok < times and time.monotonic() < deadline:
            try:
                if call() == b'':
                    return
                ok += 1
                with lock:
                    done[0] += 1
            except RuntimeError:
                with lock:
                    refused[0] += 1
                time.sleep(0.001)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return done[0], refused[0]


def _threads_read(environ, start_response):
    """Four threads read one request body at once, each retrying when
    another is reading; every byte must arrive exactly once."""
    stream = environ['wsgi.input']
    got = []

    def read_some():
        data = stream.read(8192)
        got.append(len(data))
        return data
    counts = _in_threads(read_some, 1 << 20)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'%d %d %d' % ((sum(got),) + counts)]


def _scoreboard_peek(environ, start_response):
    """What an application can see of shared memory: each shared mapping
    of this process with its permissions, and whether the query string
    (also sent to the server by others) is in any readable one."""
    import ctypes
    needle = environ.get('QUERY_STRING', '').encode()
    shared, found = [], False
    with open('/proc/self/maps') as maps:
        for line in maps:
            fields = line.split()
            if not fields[1].endswith('s'):
                continue
            shared.append('%s %s' % (fields[1], ' '.join(fields[5:])))
            start, end = (int(x, 16) for x in fields[0].split('-'))
            if fields[1][0] == 'r' and needle:
                found |= needle in ctypes.string_at(start, end - start)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s\n%s' % ('found' if found else 'not found',
                          '\n'.join(shared))).encode()]


def application(environ, start_response):
    path = environ['PATH_INFO']
    query = environ.get('QUERY_STRING', '')
    if path in ('', '/environ'):
        seen = {k: v for k, v in environ.items() if isinstance(v, str)}
        body = json.dumps(seen, sort_keys=True).encode()
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [body]
    if path == '/post-once':
        # Counts every run of the request, then takes its time.
        length = int(environ.get('CONTENT_LENGTH') or 0)
        body = environ['wsgi.input'].read(length)
        with open(os.path.join(MARKER_DIR, 'post-runs'), 'a') as f:
            f.write('%d %s\n' % (os.getpid(), body.decode()))
        time.sleep(float(query or 12))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'ran']
    if path == '/read':
        # Reads the whole body, however slowly it comes.
        length = int(environ.get('CONTENT_LENGTH') or 0)
        try:
            got = len(environ['wsgi.input'].read(length))
        except OSError as e:
            got = -1
            environ['wsgi.errors'].write('reading the body failed: %r\n' % (e,))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(got).encode()]
    if path == '/big':
        # One bytes object of N MiB, returned in one piece.
        data = b'x' * (int(query or 80) << 20)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [data]
    if path == '/sleep':
        time.sleep(float(query or 1))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'slept']
    if path == '/werkzeug':
        # HEAD answered as Werkzeug does: the GET's headers, no body.
        body = b'' if environ['REQUEST_METHOD'] == 'HEAD' else b'hello world'
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', '11')])
        return [body]
    if path == '/plus-length':
        start_response('200 OK', [('Content-Length', '+5')])
        return [b'hello']
    if path == '/threads-write':
        # Four threads write() parts of one response at once; a write that
        # is refused (another thread is writing) is counted, not retried.
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        counts = _in_threads(lambda: write(b'x' * 1000), 50)
        return [b'\n%d %d' % counts]
    if path == '/threads-read':
        return _threads_read(environ, start_response)
    if path == '/scoreboard-peek':
        return _scoreboard_peek(environ, start_response)
    if path == '/truncate':
        # A 2 MiB file_wrapper response whose file another thread of this
        # process keeps cutting to nothing and growing back for 2 s, while
        # Apache sends it: what a hostile daemon could do.
        name = os.path.join(MARKER_DIR, 'trunc-%d-%s' % (os.getpid(), query))
        with open(name, 'wb') as f:
            f.write(os.urandom(2 << 20))

        def toggle(end=time.monotonic() + 2):
            while time.monotonic() < end:
                os.truncate(name, 0)
                os.truncate(name, 2 << 20)
        threading.Thread(target=toggle, daemon=True).start()
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(name, 'rb'))
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such path']
