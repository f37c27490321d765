"""The pip way, side by side: `mod_wsgi-express start-server` from PyPI's
mod_wsgi 6.1.1 and from our wheel, each in its own virtualenv, the same app
and options (daemon mode, 2 processes x 4 threads), in alternating rounds.
Per round: start -> first 200, hello req/s and the server's CPU per
request (every process of its session), a graceful stop -> every process
gone.
Run through `scripts/bench --pip-express [ROUNDS [SECONDS]]`.
"""

import glob
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import free_port, session_cpu, session_pids, wrk  # noqa: E402
from express import APP, venv as venv_61  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUR_VENV = os.path.join(REPO, 'target/bench-pip-venv')


def our_venv():
    """A virtualenv with the wheel scripts/package built, made afresh."""
    wheels = glob.glob(os.path.join(REPO, 'dist/mod_wsgi_rs-*-cp311-*.whl'))
    if not wheels:
        sys.exit('bench: no wheel in dist/ (scripts/package wheel)')
    shutil.rmtree(OUR_VENV, ignore_errors=True)
    subprocess.run(['/usr/bin/python3', '-m', 'venv', OUR_VENV], check=True)
    subprocess.run([os.path.join(OUR_VENV, 'bin/pip'), 'install', '-q', '--no-index',
                    wheels[0]], check=True)
    return OUR_VENV


def first_200(port, deadline):
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen('http://127.0.0.1:%d/' % port, timeout=2).read()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def running(pid):
    """Not yet exited. A zombie has exited: it only waits for its parent
    (for a re-parented one, the system's init, which can take a second)
    to collect its status."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


class StartServer:
    def __init__(self, venv):
        self.dir = tempfile.mkdtemp(prefix='mwrs-bench-pipx-')
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.dir, 'app.wsgi'), 'w') as f:
            f.write(APP)
        self.port = free_port()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(venv, 'bin/mod_wsgi-express'), 'start-server', 'app.wsgi',
             '--server-root', os.path.join(self.dir, 'sr'), '--host', '127.0.0.1',
             '--port', str(self.port), '--user', 'www-data', '--group', 'www-data',
             '--processes', '2', '--threads', '4'],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        if not first_200(self.port, t0 + 60):
            self.stop()
            raise RuntimeError('start-server did not serve')
        self.startup = time.monotonic() - t0

    def cpu(self):
        return session_cpu(self.proc.pid)

    def stop(self, sig):
        """`sig` to start-server; seconds until its whole session is gone."""
        pids = list(session_pids(self.proc.pid))
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        deadline = t0 + 60
        while time.monotonic() < deadline and any(running(p) for p in pids):
            self.proc.poll()
            time.sleep(0.02)
        took = time.monotonic() - t0
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return took


# A graceful stop for both: 6.1.1's start-server is httpd itself (it
# execs), whose graceful stop is SIGWINCH (SIGTERM stops it at once,
# cutting requests); ours turns SIGTERM into that graceful stop.
GRACEFUL = {'mod_wsgi-express 6.1.1': signal.SIGWINCH,
            'mod_wsgi-rs express': signal.SIGTERM}


def one_round(name, venv, duration):
    s = StartServer(venv)
    try:
        wrk(s.port, 'hello', 2)  # warm-up
        c0 = s.cpu()
        res = wrk(s.port, '', duration)
        res['cpu_us'] = (s.cpu() - c0) / max(res['rps'] * duration, 1) * 1e6
    finally:
        res_stop = s.stop(GRACEFUL[name])
    res['startup'], res['stop'] = s.startup, res_stop
    print('%-22s %8.0f req/s  CPU %6.1f us/req  errors %d  start->200 %.2f s  '
          'graceful stop->gone %.2f s' % (name, res['rps'], res['cpu_us'], res['errors'],
                                     res['startup'], res['stop']), flush=True)
    return res


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    venvs = {'mod_wsgi-express 6.1.1': venv_61(), 'mod_wsgi-rs express': our_venv()}
    results = {name: [] for name in venvs}
    for _ in range(rounds):
        for name, venv in venvs.items():
            results[name].append(one_round(name, venv, duration))
    print('\n| start-server | req/s | server CPU µs/req | start → first 200 s | graceful stop → all gone s |')
    print('|---|---:|---:|---:|---:|')
    med = {}
    for name, rs in results.items():
        med[name] = {k: statistics.median(x[k] for x in rs)
                     for k in ('rps', 'cpu_us', 'startup', 'stop')}
        m = med[name]
        print('| %s | %.0f | %.0f | %.2f | %.2f |' % (name, m['rps'], m['cpu_us'],
                                                     m['startup'], m['stop']))
    a, b = med['mod_wsgi-rs express'], med['mod_wsgi-express 6.1.1']
    print('\nratio (ours / 6.1.1): req/s %.2fx, CPU per request %.2fx, start-up %.2fx, stop %.2fx'
          % (a['rps'] / b['rps'], a['cpu_us'] / b['cpu_us'], a['startup'] / b['startup'],
             a['stop'] / b['stop']))


if __name__ == '__main__':
    main()
