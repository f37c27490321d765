# The benchmark application, identical for every variant.
import os
import time

HELLO = b'Hello World!'
CHUNK = b'x' * 16384
FILE = os.path.join(os.path.dirname(__file__), 'file1m.bin')


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/hello':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(HELLO)))])
        return [HELLO]
    if path == '/echo64k':
        data = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(str(len(data)))))])
        return [str(len(data)).encode()]
    if path == '/stream1m':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return (CHUNK for _ in range(64))
    if path == '/sleep10ms':
        time.sleep(0.01)
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])
        return [b'ok']
    if path == '/file1m':
        f = open(FILE, 'rb')
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(os.path.getsize(FILE)))])
        return environ['wsgi.file_wrapper'](f, 65536)
    start_response('404 Not Found', [('Content-Length', '0')])
    return []
