"""Free threading, measured: one daemon process with 4 threads serving a
CPU-bound request (about 5 ms of pure Python), loaded by 4 connections,
on the free-threaded CPython 3.13t (/opt/python/3.13t):

  ours, GIL off      WSGIFreeThreading On
  ours, PYTHON_GIL=1 the same configuration and build, with PYTHON_GIL=1 in
                     Apache's environment (Python turns the GIL back on)
  6.1.1, GIL off     PyPI's mod_wsgi 6.1.1 built for 3.13t, WSGIFreeThreading On
  6.1.1, PYTHON_GIL=1

in alternating rounds of the same run. Each server reports
sys._is_gil_enabled() before it is loaded, so a row cannot claim a mode
it did not run in. Prints req/s, p50/p99 and the server's CPU per
request. Run through `scripts/bench --free-threading [ROUNDS [SECONDS]]`.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import parse_wrk, session_cpu  # noqa: E402
from one_httpd import OneHttpd  # noqa: E402

APP = '''import json, sys

def application(environ, start_response):
    if environ['PATH_INFO'] == '/mode':
        body = json.dumps({'gil': sys._is_gil_enabled()}).encode()
    else:
        n = 0
        for i in range(65000):
            n += i * i
        body = str(n).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''


class Server(OneHttpd):
    def __init__(self, module, gil_env, python_home):
        env = dict(os.environ)
        env.pop('PYTHON_GIL', None)
        if gil_env:
            env['PYTHON_GIL'] = '1'
        super().__init__('ft', APP, module, [
            'WSGIPythonHome %s' % python_home,
            'KeepAlive On', 'MaxKeepAliveRequests 0',
            'WSGIFreeThreading On',
            'WSGIDaemonProcess cpu processes=1 threads=4',
            'WSGIScriptAlias / @APP@ process-group=cpu application-group=%{GLOBAL}',
        ], env=env)
        deadline = time.monotonic() + 30
        self.gil = None
        while time.monotonic() < deadline:
            try:
                url = 'http://127.0.0.1:%d/mode' % self.port
                self.gil = json.loads(urllib.request.urlopen(url, timeout=5).read())['gil']
                break
            except OSError:
                time.sleep(0.1)
        if self.gil is None:
            self.stop()
            sys.exit('bench: the server for %s did not answer; see %s/error.log' % (module, self.root))


def load(port, duration):
    out = subprocess.run(['wrk', '-t2', '-c4', '-d%ds' % duration, '--latency', '--timeout', '10s',
                          'http://127.0.0.1:%d/' % port],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    return parse_wrk(out)


def main():
    ours, theirs, python_home = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds, duration = int(sys.argv[4]), int(sys.argv[5])
    variants = [('ours, GIL off', ours, False), ('ours, PYTHON_GIL=1', ours, True),
                ('6.1.1, GIL off', theirs, False), ('6.1.1, PYTHON_GIL=1', theirs, True)]
    rows = {name: [] for name, _, _ in variants}
    for _ in range(rounds):
        for name, module, gil_env in variants:
            s = Server(module, gil_env, python_home)
            try:
                if s.gil != gil_env:
                    sys.exit('bench: %s ran with sys._is_gil_enabled() = %s' % (name, s.gil))
                cpu0 = session_cpu(s.pid)
                r = load(s.port, duration)
                cpu = session_cpu(s.pid) - cpu0
            finally:
                s.stop()
            r['cpu_us'] = cpu / max(r['rps'] * duration, 1) * 1e6
            rows[name].append(r)
    print('one daemon process x 4 threads, ~5 ms of pure Python per request, 4 connections, '
          'CPython 3.13t, %d CPUs' % os.cpu_count())
    print('%-20s %9s %8s %8s %7s %18s' % ('', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU us/req'))
    med = {}
    for name, r in rows.items():
        med[name] = statistics.median(x['rps'] for x in r)
        print('%-20s %9.1f %8.1f %8.1f %7d %18.0f' % (
            name, med[name], statistics.median(x['p50'] for x in r),
            statistics.median(x['p99'] for x in r), sum(x['errors'] for x in r),
            statistics.median(x['cpu_us'] for x in r)))
        print('  rounds: %s' % ', '.join('%.1f' % x['rps'] for x in r))
    print('ours: GIL off / PYTHON_GIL=1 req/s: %.2f' % (med['ours, GIL off'] / med['ours, PYTHON_GIL=1']))
    print('GIL off: ours / 6.1.1 req/s: %.2f' % (med['ours, GIL off'] / med['6.1.1, GIL off']))


if __name__ == '__main__':
    main()
