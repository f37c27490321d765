# One WSGI application with many behaviours, chosen by PATH_INFO, used by
# the integration tests. Each branch exercises one rule of PEP 3333 or one
# mod_wsgi feature and reports what it saw as JSON or plain bytes.
import io
import json
import os
import sys
import threading
import time

import mod_wsgi

CALLS = {'count': 0}
# The "code version" this process loaded (tests rewrite the file between
# restarts to see which code serves a request).
try:
    with open(os.path.join(os.path.dirname(__file__), 'code-version')) as _f:
        CODE_VERSION = _f.read().strip()
except OSError:
    CODE_VERSION = 'none'
# Written by the app (as Apache's child user), read by the tests.
MARKER_DIR = os.path.join(os.path.dirname(__file__), 'markers')


def _json(start_response, data, status='200 OK'):
    body = json.dumps(data, sort_keys=True).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
    return [body]


class ClosingIterable:
    """Records that close() ran, in a file named by the query string."""

    def __init__(self, items, marker, fail_at=None):
        self.items = items
        self.marker = marker
        self.fail_at = fail_at

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise ValueError('failing mid-iteration on purpose')
            yield item

    def close(self):
        with open(self.marker, 'w') as f:
            f.write('closed')


class CountingFile(io.FileIO):
    """A real file that counts read calls and, when closed, writes the count
    to markers/reads-<pid> (0 = the server sent it by descriptor)."""
    reads = 0

    def read(self, *args):
        self.reads += 1
        return super().read(*args)

    def readinto(self, *args):
        self.reads += 1
        return super().readinto(*args)

    def close(self):
        if not self.closed:
            with open(os.path.join(MARKER_DIR, 'reads'), 'w') as f:
                f.write(str(self.reads))
        super().close()


def route_environ(environ, start_response, query):
    keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING',
            'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR',
            'CONTENT_TYPE', 'CONTENT_LENGTH', 'HTTP_HOST', 'HTTP_X_PROBE',
            'HTTP_AUTHORIZATION', 'REQUEST_URI', 'SCRIPT_FILENAME', 'REMOTE_USER', 'AUTH_TYPE',
            'HTTP_X_FORWARDED_FOR', 'HTTP_X_REAL_IP', 'HTTP_X_FORWARDED_PROTO', 'HTTP_X_FORWARDED_HOST',
            'mod_wsgi.mount_point',
            'wsgi.url_scheme', 'wsgi.multithread', 'wsgi.multiprocess',
            'wsgi.run_once', 'wsgi.input_terminated',
            'mod_wsgi.process_group', 'mod_wsgi.application_group',
            'mod_wsgi.script_name', 'mod_wsgi.path_info',
            'mod_wsgi.callable_object', 'mod_wsgi.request_id']
    seen = {k: environ.get(k) for k in keys}
    seen['wsgi.version'] = list(environ['wsgi.version'])
    # CGI variables are str (PEP 3333); mod_wsgi 6's own timing and version
    # keys are not.
    not_str = ('wsgi.', 'mod_wsgi.version', 'apache.version', 'mod_wsgi.request_start',
               'mod_wsgi.queue_start', 'mod_wsgi.daemon_start', 'mod_wsgi.application_start',
               'mod_wsgi.thread_id')
    seen['types_are_str'] = all(type(k) is str and (type(v) is str or k.startswith(not_str))
                                for k, v in environ.items())
    seen['has_file_wrapper'] = callable(environ.get('wsgi.file_wrapper'))
    return _json(start_response, seen)


def route_module(environ, start_response, query):
    return _json(start_response, {
        'version': list(mod_wsgi.version),
        'process_group': mod_wsgi.process_group,
        'application_group': mod_wsgi.application_group,
        'maximum_processes': mod_wsgi.maximum_processes,
        'threads_per_process': mod_wsgi.threads_per_process,
        'interpreter_id': id(sys.modules),
        'main_thread_is_this': threading.main_thread() is threading.current_thread(),
        'calls': CALLS['count'],
        'pid': os.getpid(),
        'uid': os.getuid(),
    })


def route_echo(environ, start_response, query):
    data = environ['wsgi.input'].read()
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return [data]


def route_read_modes(environ, start_response, query):
    inp = environ['wsgi.input']
    first = inp.read(5)
    line = inp.readline()
    limited = inp.readline(3)
    lines = inp.readlines()
    rest = inp.read()
    return _json(start_response, {'first': first.decode(), 'line': line.decode(),
                                  'limited': limited.decode(),
                                  'lines': [l.decode() for l in lines], 'rest': rest.decode()})


def route_iterate_input(environ, start_response, query):
    count = sum(1 for _ in environ['wsgi.input'])
    return _json(start_response, {'lines': count})


def route_errors(environ, start_response, query):
    print('probe stdout line', query)
    environ['wsgi.errors'].write('probe wsgi.errors line %s\n' % query)
    return _json(start_response, {'ok': True})


def route_write_callable(environ, start_response, query):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'written-')
    return [b'returned']


def route_second_start_response(environ, start_response, query):
    start_response('200 OK', [])
    try:
        start_response('500 Oops', [])
    except RuntimeError as e:
        return [('refused: %s' % e).encode()]
    return [b'accepted a second call']


def route_exc_info(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    try:
        raise KeyError('boom')
    except KeyError:
        start_response('503 Replaced', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'replaced']


def route_exc_info_after_send(environ, start_response, query):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'partial')
    try:
        raise KeyError('late')
    except KeyError:
        start_response('500 Error', [], sys.exc_info())
    return [b'never']


def route_raise(environ, start_response, query):
    raise RuntimeError('probe raised on purpose %s' % query)


def route_raise_after_headers(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b'first-part'
        raise RuntimeError('failing after the headers went out')
    return gen()


def route_not_bytes(environ, start_response, query):
    start_response('200 OK', [])
    return ['a str, not bytes']


def route_no_start_response(environ, start_response, query):
    return [b'body without start_response']


def route_bad_header(environ, start_response, query):
    start_response('200 OK', [('X-Bad', 'a\r\nInjected: yes')])
    return [b'x']


def route_latin1_header(environ, start_response, query):
    start_response('200 OK', [('X-Name', 'caf\u00e9')])
    return [b'ok']


def route_non_latin1_header(environ, start_response, query):
    start_response('200 OK', [('X-Name', 'snow \u2603')])
    return [b'x']


def route_bad_status(environ, start_response, query):
    start_response('OK', [])
    return [b'x']


def route_hop_by_hop(environ, start_response, query):
    start_response('200 OK', [('Connection', 'close')])
    return [b'x']


def route_too_long(environ, start_response, query):
    start_response('200 OK', [('Content-Length', '5'), ('Content-Type', 'text/plain')])
    return [b'12345', b'67890']


def route_close(environ, start_response, query):
    marker = os.path.join(MARKER_DIR, query)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ClosingIterable([b'a', b'b'], marker)


def route_close_on_error(environ, start_response, query):
    marker = os.path.join(MARKER_DIR, query)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ClosingIterable([b'a', b'b', b'c'], marker, fail_at=1)


def route_slow_close(environ, start_response, query):
    # Streams for ~10 s unless the client goes away; close() leaves a marker.
    marker = os.path.join(MARKER_DIR, query)
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])

    def slow():
        for _ in range(500):
            time.sleep(0.02)
            yield b'x' * 4096
    return ClosingIterable(slow(), marker)


def route_file(environ, start_response, query):
    name = os.path.join(MARKER_DIR, query)
    f = open(name, 'rb')
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(os.path.getsize(name)))])
    return environ['wsgi.file_wrapper'](f, 65536)


def route_counted_file(environ, start_response, query):
    # A real file whose read() counts calls: 0 calls means the server
    # sent it by descriptor (sendfile), not by iterating the wrapper.
    name, _, skip = query.partition(':')
    name = os.path.join(MARKER_DIR, name)
    f = CountingFile(name)
    f.seek(int(skip or '0'))
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(os.path.getsize(name) - int(skip or '0')))])
    return environ['wsgi.file_wrapper'](f, 65536)


def route_file_wrapper_bytesio(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return environ['wsgi.file_wrapper'](io.BytesIO(b'from-bytesio' * 100), 7)


def route_stream(environ, start_response, query):
    n = int(query or '4')
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return (bytes([65 + i % 26]) * 16384 for i in range(n))


def route_big_header(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('X-Big', 'b' * int(query or '100'))])
    return [b'big header']


def route_head(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Method', environ['REQUEST_METHOD'])])
    return [b'body of a GET']


def route_empty(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return []


def route_exit_now(environ, start_response, query):
    os._exit(3)


def route_exit_mid_stream(environ, start_response, query):
    start_response('200 OK', [('Content-Type', 'text/plain')])

    def die_after_first():
        yield b'first-chunk'
        os._exit(4)
    return die_after_first()


def route_sleep(environ, start_response, query):
    # Tells the test the request is running (markers/sleeping-<secs>).
    with open(os.path.join(MARKER_DIR, 'sleeping-' + (query or '1')), 'w') as f:
        f.write(str(os.getpid()))
    time.sleep(float(query or '1'))
    return _json(start_response, {'slept': float(query or '1')})


def route_code_version(environ, start_response, query):
    body = CODE_VERSION.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]


def route_stdin(environ, start_response, query):
    try:
        sys.stdin.read()
        result = 'read'
    except OSError as e:
        result = 'refused: %s' % e
    return _json(start_response, {'stdin': result})


def route_python(environ, start_response, query):
    return _json(start_response, {
        'egg_cache': os.environ.get('PYTHON_EGG_CACHE'),
        'switch_interval': sys.getswitchinterval(),
    })


def route_status(environ, start_response, query):
    body = ('app body for %s' % query).encode()
    start_response('%s From The App' % query, [('Content-Type', 'text/plain'),
                                              ('Content-Length', str(len(body)))])
    return [body]


API_NAMES = ('version', 'process_group', 'application_group', 'maximum_processes',
             'threads_per_process', 'subscribe_events', 'subscribe_shutdown', 'subscribe_signals',
             'request_data', 'event_callbacks', 'shutdown_callbacks', 'signal_callbacks',
             'active_requests', 'start_recording_metrics', 'request_metrics', 'process_metrics',
             'server_metrics', 'LogHandler', 'FileWrapper', 'RequestTimeout')


def route_api6(environ, start_response, query):
    """mod_wsgi 6's Python surface, for tests/python_api.rs."""
    import logging
    import apache
    if query.startswith('log='):
        log = logging.getLogger('probe')
        log.propagate = False
        if not log.handlers:
            log.addHandler(mod_wsgi.LogHandler())
        log.error('probe LogHandler says %s', query[4:])
    if query == 'server-metrics':
        m = mod_wsgi.server_metrics()
        if m is None:
            return _json(start_response, {'metrics': None})
        workers = [w for p in m['processes'] for w in p['workers']]
        return _json(start_response, {'metrics': {
            'keys': sorted(m), 'process_keys': sorted(m['processes'][0]),
            'worker_keys': sorted(m['processes'][0]['workers'][0]),
            'server_limit': m['server_limit'], 'thread_limit': m['thread_limit'],
            'processes': len(m['processes']), 'running_time': m['running_time'],
            'pids': [p['pid'] for p in m['processes'] if p['pid']],
            'writing': sum(1 for w in workers if w['status'] == 'W'),
            'statuses': sorted(set(w['status'] for w in workers)),
            'requests': [w['request'] for w in workers if w['status'] == 'W'],
        }})
    if query == 'request-metrics':
        mod_wsgi.start_recording_metrics()
        return _json(start_response, {'metrics': mod_wsgi.request_metrics()})
    if query == 'metrics':
        mod_wsgi.start_recording_metrics()
        m = mod_wsgi.process_metrics()
        return _json(start_response, {'metrics': m, 'active': list(mod_wsgi.active_requests),
                                      'request_id': environ.get('mod_wsgi.request_id')})
    keys = ('mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start',
            'mod_wsgi.application_start', 'mod_wsgi.thread_id', 'mod_wsgi.server_pid',
            'mod_wsgi.connection_id')
    return _json(start_response, {
        'version': list(mod_wsgi.version),
        'apache_version': list(apache.version),
        'mpm_name': apache.mpm_name,
        'apache_maximum_processes': apache.maximum_processes,
        'apache_threads_per_process': apache.threads_per_process,
        'description': apache.description,
        'build_date': apache.build_date,
        'environ': {k: environ.get(k) for k in keys},
        'types': {k: type(environ.get(k)).__name__ for k in keys},
        'has': [name for name in API_NAMES if hasattr(mod_wsgi, name)],
        'apache_types': {k: type(getattr(apache, k)).__name__ for k in
                         ('version', 'mpm_name', 'maximum_processes', 'threads_per_process',
                          'description', 'build_date')},
        'pid': os.getpid(),
    })


def route_behave(environ, start_response, query):
    """What the metrics API does over a sequence of requests (before, start,
    then after some others), for tests/python_api_vs_61.rs."""
    if query == 'before':
        return _json(start_response, {'request': mod_wsgi.request_metrics() is None,
                                      'process': mod_wsgi.process_metrics() is None})
    if query == 'start':
        mod_wsgi.start_recording_metrics()
        mod_wsgi.start_recording_metrics()
    m = mod_wsgi.request_metrics()
    p = mod_wsgi.process_metrics()
    return _json(start_response, {
        'request_count': m['request_count'],
        'status': [m['status_%dxx' % c] for c in range(1, 6)],
        'input_bytes': m['input_bytes'],
        'output_bytes_positive': m['output_bytes'] > 0,
        'threads_maximum': m['request_threads_maximum'],
        'buckets': len(m['request_time_buckets']),
        'bucket_total': sum(m['request_time_buckets']),
        'process_requests': p['request_count'],
        'process_active': p['active_requests'],
        'in_active_requests': environ.get('mod_wsgi.request_id') in mod_wsgi.active_requests,
        'request_data': type(mod_wsgi.request_data()).__name__,
    })


def route_log_levels(environ, start_response, query):
    """Each logging level through mod_wsgi.LogHandler, tagged with `query`,
    plus a two-line message, for tests/python_api_vs_61.rs."""
    import logging
    log = logging.getLogger('probe-levels')
    log.propagate = False
    log.setLevel(logging.DEBUG)
    if not log.handlers:
        log.addHandler(mod_wsgi.LogHandler())
    for level in ('debug', 'info', 'warning', 'error', 'critical'):
        getattr(log, level)('level-%s %s', query, level)
    log.error('twolines-%s first\nsecond-%s', query, query)
    return _json(start_response, {'handler': type(log.handlers[0]).__mro__[1].__name__})


def route_file_wrapper(environ, start_response, query):
    """mod_wsgi.FileWrapper as wsgi.file_wrapper: the facts, or (?body) a
    response through it in 7-byte blocks."""
    if query == 'body':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return mod_wsgi.FileWrapper(open(__file__, 'rb'), 7)
    fw = mod_wsgi.FileWrapper(io.BytesIO(b'abcdefghij'), 4)
    return _json(start_response, {
        'is_environ_wrapper': environ['wsgi.file_wrapper'] is mod_wsgi.FileWrapper,
        'is_type': isinstance(mod_wsgi.FileWrapper, type),
        'blocks': [b.decode() for b in fw],
        'has_close': hasattr(fw, 'close'),
    })


def route_request_timeout(environ, start_response, query):
    """Busy in Python past request-timeout: what reaches the thread."""
    caught = None
    t0 = time.time()
    try:
        while time.time() - t0 < 20:
            sum(range(1000))
    except BaseException as e:
        caught = type(e).__name__
        is_it = isinstance(e, mod_wsgi.RequestTimeout)
        base = [c.__name__ for c in type(e).__mro__[1:]]
    else:
        is_it, base = False, []
    return _json(start_response, {'caught': caught, 'is_request_timeout': is_it,
                                  'bases': base, 'after': round(time.time() - t0)})


ROUTES = {
    '/api6': route_api6,
    '/behave': route_behave,
    '/status': route_status,
    '/python': route_python,
    '/environ': route_environ,
    '/module': route_module,
    '/echo': route_echo,
    '/read-modes': route_read_modes,
    '/iterate-input': route_iterate_input,
    '/errors': route_errors,
    '/write-callable': route_write_callable,
    '/second-start-response': route_second_start_response,
    '/exc-info': route_exc_info,
    '/exc-info-after-send': route_exc_info_after_send,
    '/raise': route_raise,
    '/raise-after-headers': route_raise_after_headers,
    '/not-bytes': route_not_bytes,
    '/no-start-response': route_no_start_response,
    '/bad-header': route_bad_header,
    '/latin1-header': route_latin1_header,
    '/non-latin1-header': route_non_latin1_header,
    '/bad-status': route_bad_status,
    '/hop-by-hop': route_hop_by_hop,
    '/too-long': route_too_long,
    '/close': route_close,
    '/close-on-error': route_close_on_error,
    '/slow-close': route_slow_close,
    '/file': route_file,
    '/counted-file': route_counted_file,
    '/file-wrapper-bytesio': route_file_wrapper_bytesio,
    '/stream': route_stream,
    '/big-header': route_big_header,
    '/head': route_head,
    '/empty': route_empty,
    '/exit-now': route_exit_now,
    '/exit-mid-stream': route_exit_mid_stream,
    '/sleep': route_sleep,
    '/code-version': route_code_version,
    '/stdin': route_stdin,
    '/log-levels': route_log_levels,
    '/file-wrapper': route_file_wrapper,
    '/request-timeout': route_request_timeout,
}


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    query = environ.get('QUERY_STRING', '')
    CALLS['count'] += 1
    route = ROUTES.get(path)
    if route is not None:
        return route(environ, start_response, query)
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [('probe: no such path %r' % path).encode()]


def other_app(environ, start_response):
    """A second callable, for callable_object= and dispatch scripts."""
    return _json(start_response, {'callable': 'other_app', 'pid': os.getpid(),
                                  'process_group': mod_wsgi.process_group})
