# The fleet's app (scripts/fleet): every answer names the code version
# (version.py, rewritten by a deploy) in its body and in X-Version.
import time

from version import VERSION


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/slow':
        time.sleep(float(environ.get('QUERY_STRING') or '2'))
        body = 'slow'
    elif path == '/echo':
        size = int(environ.get('CONTENT_LENGTH') or 0)
        data = environ['wsgi.input'].read(size)
        body = 'echo %d' % len(data)
    elif path == '/version':
        body = ''
    else:
        body = 'ok'
    out = ('%s %s' % (VERSION, body)).strip().encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Version', VERSION),
                              ('Content-Length', str(len(out)))])
    return [out]
