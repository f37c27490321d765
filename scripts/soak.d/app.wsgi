# The soak test's application: each path is one kind of traffic.
import os
import tempfile
import threading

BIG = b'x' * (80 << 20)
MIB = b'y' * (1 << 20)
HERE = os.path.dirname(__file__)


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/hello':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])
        return [b'hello']
    if path == '/post':
        n = int(environ.get('CONTENT_LENGTH') or 0)
        data = environ['wsgi.input'].read(n)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(len(data)).encode()]
    if path == '/file':
        f = open(os.path.join(HERE, 'file1m.bin'), 'rb')
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 65536)
    if path == '/1m':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [MIB]
    if path == '/80m':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [BIG]
    if path == '/interp':
        # This process's Python interpreters (main + sub-interpreters).
        try:
            import _interpreters as interpreters       # 3.13
        except ImportError:
            try:
                import _xxsubinterpreters as interpreters
            except ImportError:
                interpreters = None
        count = len(interpreters.list_all()) if interpreters else -1
        body = ('%d %d' % (os.getpid(), count)).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    if path == '/truncate':
        # A file_wrapper response whose file this process cuts to nothing
        # 20 ms later, while Apache may still be sending it (what a
        # hostile daemon could do): the Apache child must not care.
        f = tempfile.TemporaryFile()
        f.write(os.urandom(1 << 20))
        f.seek(0)
        threading.Timer(0.02, os.ftruncate, (f.fileno(), 0)).start()
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 65536)
    if path == '/raise':
        raise RuntimeError('an error on purpose (soak test)')
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no']
