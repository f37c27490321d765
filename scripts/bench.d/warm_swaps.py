"""Warm swaps, measured as a user sees them: an application whose import
takes 4 s, preloaded with WSGIImportScript (the best a mod_wsgi user can
do), in daemon mode with processes=2 threads=4, six clients sending quick
GETs in a loop; the same configuration under mod_wsgi-rs, PyPI's mod_wsgi
6.1.1 and Debian's mod_wsgi 4.9 (only the LoadModule line differs), in the
same run:

  graceful          `apachectl graceful` (SIGUSR1 to the parent) at t=5 s, 15 s of load
  restart-interval  restart-interval=6, 20 s of load

Prints, per module and scenario: requests, failures, p99, the worst
request and how many took over 1 s. Run through `scripts/bench
--warm-swaps`.
"""

import os
import signal
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from one_httpd import OneHttpd  # noqa: E402

APP = '''import os, time
time.sleep(4.0)  # a slow import, as a real Django project has

def application(environ, start_response):
    body = b'pid %d' % os.getpid()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''

SCENARIOS = {
    'graceful': {'options': '', 'duration': 15, 'graceful_at': 5},
    'restart-interval': {'options': 'restart-interval=6', 'duration': 20, 'graceful_at': None},
}


class Server(OneHttpd):
    def __init__(self, module, options):
        super().__init__('warm', APP, module, [
            'WSGIDaemonProcess site processes=2 threads=4 %s' % options,
            'WSGIImportScript @APP@ process-group=site application-group=%{GLOBAL}',
            'WSGIScriptAlias / @APP@ process-group=site application-group=%{GLOBAL}',
        ])
        # Both daemons have imported the application and answer.
        deadline = time.monotonic() + 60
        seen = set()
        while time.monotonic() < deadline and len(seen) < 2:
            try:
                seen.add(urllib.request.urlopen('http://127.0.0.1:%d/' % self.port, timeout=10).read())
            except OSError:
                time.sleep(0.2)
        time.sleep(1)


def get(port):
    t0 = time.monotonic()
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        ok = data.startswith(b'HTTP/1.1 200')
    except OSError:
        ok = False
    return ok, time.monotonic() - t0


def run(module, scenario):
    spec = SCENARIOS[scenario]
    s = Server(module, spec['options'])
    results, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            results.append(get(s.port))
            time.sleep(0.02)

    try:
        clients = [threading.Thread(target=client) for _ in range(6)]
        for c in clients:
            c.start()
        if spec['graceful_at'] is not None:
            time.sleep(spec['graceful_at'])
            os.kill(s.pid, signal.SIGUSR1)
            time.sleep(spec['duration'] - spec['graceful_at'])
        else:
            time.sleep(spec['duration'])
        stop.set()
        for c in clients:
            c.join()
    finally:
        s.stop()
    times = sorted(t for _, t in results)
    return {
        'n': len(results),
        'failed': sum(1 for ok, _ in results if not ok),
        'p99': times[int(len(times) * 0.99) - 1] if times else 0,
        'worst': times[-1] if times else 0,
        'over_1s': sum(1 for t in times if t > 1),
    }


def main():
    modules = [(name, path) for name, path in zip(sys.argv[1::2], sys.argv[2::2]) if os.path.exists(path)]
    print('an application with a 4 s import, WSGIImportScript, processes=2 threads=4, '
          'six clients of quick GETs, %d CPUs' % os.cpu_count())
    print('%-18s %-17s %7s %7s %9s %9s %8s' % ('scenario', 'module', 'reqs', 'failed', 'p99 ms',
                                               'worst s', '>1 s'))
    for scenario in SCENARIOS:
        for name, path in modules:
            r = run(path, scenario)
            print('%-18s %-17s %7d %7d %9.1f %9.2f %8d' % (
                scenario, name, r['n'], r['failed'], r['p99'] * 1e3, r['worst'], r['over_1s']))


if __name__ == '__main__':
    main()
