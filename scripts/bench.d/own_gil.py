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
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import apxs, free_port, parse_wrk, session_cpu  # noqa: E402

APP = '''def application(environ, start_response):
    n = 0
    for i in range(200000):
        n += i * i
    body = str(n).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''


class Server:
    def __init__(self, module, own_gil):
        self.root = tempfile.mkdtemp(prefix='mod_wsgi_rs-bench-own-gil-')
        os.chmod(self.root, 0o755)
        with open(os.path.join(self.root, 'app.wsgi'), 'w') as f:
            f.write(APP)
        os.chmod(os.path.join(self.root, 'app.wsgi'), 0o644)
        self.port = free_port()
        modules = apxs('LIBEXECDIR')
        lines = [
            'ServerRoot %s' % self.root, 'Listen 127.0.0.1:%d' % self.port,
            'ServerName 127.0.0.1', 'PidFile %s/httpd.pid' % self.root,
            'ErrorLog %s/error.log' % self.root, 'LogLevel warn',
            'DefaultRuntimeDir %s' % self.root, 'Mutex file:%s' % self.root,
            'LoadModule mpm_event_module %s/mod_mpm_event.so' % modules,
            'LoadModule authz_core_module %s/mod_authz_core.so' % modules,
            'LoadModule alias_module %s/mod_alias.so' % modules,
            'LoadModule wsgi_module %s' % module,
            'KeepAlive On', 'MaxKeepAliveRequests 0',
            '<Directory %s>' % self.root, '  Require all granted', '</Directory>',
            'WSGIDaemonProcess cpu processes=1 threads=4',
            'WSGIPerInterpreterGIL %s' % ('On' if own_gil else 'Off'),
            'WSGIScriptAlias /a %s/app.wsgi process-group=cpu application-group=a' % self.root,
            'WSGIScriptAlias /b %s/app.wsgi process-group=cpu application-group=b' % self.root,
        ]
        if os.geteuid() == 0:
            lines += ['User www-data', 'Group www-data']
        conf = os.path.join(self.root, 'httpd.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        binary = os.path.join(apxs('SBINDIR'), apxs('TARGET'))
        subprocess.run([binary, '-f', conf, '-k', 'start'], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                for p in ('/a', '/b'):
                    urllib.request.urlopen('http://127.0.0.1:%d%s' % (self.port, p), timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        with open(os.path.join(self.root, 'httpd.pid')) as f:
            self.pid = int(f.read())

    def stop(self):
        os.kill(self.pid, 15)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists('/proc/%d' % self.pid):
            time.sleep(0.05)


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
