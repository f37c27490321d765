"""Per-interpreter GIL, measured: one daemon process (4 threads) serving two
application groups with a CPU-bound request (pure Python, ~10 ms), loaded
at once (one wrk per group, 2 connections each), with WSGIPerInterpreterGIL
On and Off in alternating rounds, on a Python 3.12+ build of the module
(target/pyX.Y, made by scripts/bench). Prints req/s, latency and the
server's CPU per request. Run through `scripts/bench --own-gil`.
"""

import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import parse_wrk, session_cpu  # noqa: E402
from one_httpd import OneHttpd  # noqa: E402

APP = '''def application(environ, start_response):
    n = 0
    for i in range(200000):
        n += i * i
    body = str(n).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''


class Server(OneHttpd):
    def __init__(self, module, own_gil):
        super().__init__('own-gil', APP, module, [
            'KeepAlive On', 'MaxKeepAliveRequests 0',
            'WSGIDaemonProcess cpu processes=1 threads=4',
            'WSGIPerInterpreterGIL %s' % ('On' if own_gil else 'Off'),
            'WSGIScriptAlias /a @APP@ process-group=cpu application-group=a',
            'WSGIScriptAlias /b @APP@ process-group=cpu application-group=b',
        ])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                for p in ('/a', '/b'):
                    urllib.request.urlopen('http://127.0.0.1:%d%s' % (self.port, p), timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)


def load(port, duration):
    """Both groups at once; (total req/s, worst p99 ms, errors)."""
    procs = [subprocess.Popen(['wrk', '-t1', '-c2', '-d%ds' % duration, '--latency',
                               '--timeout', '10s', 'http://127.0.0.1:%d%s' % (port, p)],
                              stdout=subprocess.PIPE, text=True) for p in ('/a', '/b')]
    results = [parse_wrk(p.communicate(timeout=duration + 60)[0]) for p in procs]
    return (sum(r['rps'] for r in results), max(r['p99'] or 0 for r in results),
            sum(r['errors'] for r in results))


def main():
    module, rounds, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rows = {'own GIL': [], 'shared GIL': []}
    for _ in range(rounds):
        for name, own in (('own GIL', True), ('shared GIL', False)):
            s = Server(module, own)
            try:
                cpu0 = session_cpu(s.pid)
                rps, p99, errors = load(s.port, duration)
                cpu = session_cpu(s.pid) - cpu0
            finally:
                s.stop()
            rows[name].append((rps, p99, errors, cpu / max(rps * duration, 1) * 1e6))
    print('two application groups, one daemon process, CPU-bound requests (%s)' % module)
    print('%-11s %10s %10s %7s %18s' % ('', 'req/s', 'p99 ms', 'errors', 'server CPU us/req'))
    for name, r in rows.items():
        print('%-11s %10.1f %10.1f %7d %18.0f' % (
            name, statistics.median(x[0] for x in r), statistics.median(x[1] for x in r),
            sum(x[2] for x in r), statistics.median(x[3] for x in r)))
        print('  rounds: %s' % ', '.join('%.1f' % x[0] for x in r))
    ratio = statistics.median(x[0] for x in rows['own GIL']) / statistics.median(
        x[0] for x in rows['shared GIL'])
    print('own / shared req/s: %.2f' % ratio)


if __name__ == '__main__':
    main()
