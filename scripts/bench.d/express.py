"""A mod_wsgi-express user's comparison: the same server, written by PyPI's
`mod_wsgi-express setup-server` (daemon mode, 2 processes x 4 threads),
run with mod_wsgi 6.1.1's own module and with ours (only the LoadModule
line differs), in alternating rounds. Prints req/s, latency and the
server's CPU per request (every process of its session). Run through
`scripts/bench --express`.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import free_port, session_cpu, wrk  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OURS = os.path.join(REPO, 'target/release/libmod_wsgi_rs.so')
VENV = os.path.join(REPO, 'target/express-venv')
APP = '''def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
    return [b'Hello world!']
'''


def venv():
    if not os.path.exists(os.path.join(VENV, 'ok')):
        subprocess.run([sys.executable, '-m', 'venv', VENV], check=True)
        subprocess.run([os.path.join(VENV, 'bin/pip'), 'install', '-q', 'mod_wsgi==6.1.1'], check=True)
        open(os.path.join(VENV, 'ok'), 'w').close()
    return VENV


class Express:
    def __init__(self, module):
        self.dir = tempfile.mkdtemp(prefix='mod_wsgi_rs-bench-express-')
        os.chmod(self.dir, 0o755)
        app = os.path.join(self.dir, 'app.wsgi')
        with open(app, 'w') as f:
            f.write(APP)
        self.root = os.path.join(self.dir, 'server')
        self.port = free_port()
        subprocess.run([os.path.join(venv(), 'bin/mod_wsgi-express'), 'setup-server', app,
                        '--server-root', self.root, '--host', '127.0.0.1', '--port', str(self.port),
                        '--user', 'www-data', '--group', 'www-data', '--processes', '2',
                        '--threads', '4'], check=True, capture_output=True)
        if module != 'mod_wsgi':
            conf = os.path.join(self.root, 'httpd.conf')
            with open(conf) as f:
                text = f.read()
            text = re.sub(r"^LoadModule wsgi_module .*$", "LoadModule wsgi_module '%s'" % module,
                          text, flags=re.M)
            with open(conf, 'w') as f:
                f.write(text)
        subprocess.run([os.path.join(self.root, 'apachectl'), 'start'], check=True,
                       capture_output=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen('http://127.0.0.1:%d/' % self.port, timeout=2).read()
                break
            except OSError:
                time.sleep(0.05)
        with open(os.path.join(self.root, 'httpd.pid')) as f:
            self.pid = int(f.read())

    def cpu(self):
        """CPU seconds of every process of the server's session."""
        return session_cpu(self.pid)

    def stop(self):
        subprocess.run([os.path.join(self.root, 'apachectl'), 'stop'], capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists('/proc/%d' % self.pid):
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    results = {'mod_wsgi 6.1.1': [], 'mod_wsgi-rs': []}
    for r in range(rounds):
        for name, module in (('mod_wsgi 6.1.1', 'mod_wsgi'), ('mod_wsgi-rs', OURS)):
            e = Express(module)
            try:
                wrk(e.port, 'hello', 2)  # warm-up
                c0 = e.cpu()
                res = wrk(e.port, '', duration)
                c1 = e.cpu()
                res['cpu_us'] = (c1 - c0) / max(res['rps'] * duration, 1) * 1e6
                results[name].append(res)
                print('round %d %-15s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  server CPU %6.1f us/req'
                      % (r + 1, name, res['rps'], res['p50'], res['p99'], res['errors'], res['cpu_us']),
                      flush=True)
            finally:
                e.stop()
    print()
    print('| server | req/s | p50 ms | p99 ms | server CPU µs/req |')
    print('|---|---:|---:|---:|---:|')
    for name, rs in results.items():
        med = lambda k: statistics.median(x[k] for x in rs)  # noqa: E731
        print('| %s | %.0f | %.2f | %.2f | %.0f |' % (name, med('rps'), med('p50'), med('p99'), med('cpu_us')))
    a, b = results['mod_wsgi-rs'], results['mod_wsgi 6.1.1']
    print('\nratio (mod_wsgi-rs / mod_wsgi 6.1.1): req/s %.2fx, CPU per request %.2fx'
          % (statistics.median(x['rps'] for x in a) / statistics.median(x['rps'] for x in b),
             statistics.median(x['cpu_us'] for x in a) / statistics.median(x['cpu_us'] for x in b)))


if __name__ == '__main__':
    main()
