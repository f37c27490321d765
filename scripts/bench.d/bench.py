"""Side-by-side benchmark of mod_wsgi-rs and Debian's mod_wsgi 4.9.

Every variant gets its own Apache (own config, loopback port, event MPM,
the same MPM settings and the same Python), started fresh for each round;
variants are interleaved (A B C A B C ...) so drift shows in the rounds.
Only ratios mean anything: client and server share the machine's cores.
Run through scripts/bench, which installs wrk and mod_wsgi and builds ours.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# MOD_WSGI_RS_SO: benchmark another build of ours (say, main's) in its place.
OURS = os.environ.get('MOD_WSGI_RS_SO') or os.path.join(REPO, 'target/release/libmod_wsgi_rs.so')
DEBIAN = '/usr/lib/apache2/modules/mod_wsgi.so'

SCENARIOS = ['hello', 'echo64k', 'stream1m', 'sleep10ms', 'file1m']
VARIANTS = {
    'ours-embedded': {'module': OURS, 'daemon': False},
    'ours-daemon': {'module': OURS, 'daemon': True},
    'modwsgi-embedded': {'module': DEBIAN, 'daemon': False},
    'modwsgi-daemon': {'module': DEBIAN, 'daemon': True},
    'static': {'static': True},
    # Ours with mod_wsgi.start_recording_metrics() called at start-up.
    'metrics-embedded': {'module': OURS, 'daemon': False, 'metrics': True},
    'metrics-daemon': {'module': OURS, 'daemon': True, 'metrics': True},
}
# Which mod_wsgi variant each of ours is compared with.
BASELINE = {'ours-embedded': 'modwsgi-embedded', 'ours-daemon': 'modwsgi-daemon',
            'metrics-embedded': 'ours-embedded', 'metrics-daemon': 'ours-daemon'}
# MOD_WSGI_RS_BEFORE_SO: an earlier build of ours, run in the same rounds
# (variants before-embedded / before-daemon, compared with ours).
BEFORE = os.environ.get('MOD_WSGI_RS_BEFORE_SO')
if BEFORE:
    VARIANTS['before-embedded'] = {'module': BEFORE, 'daemon': False}
    VARIANTS['before-daemon'] = {'module': BEFORE, 'daemon': True}
    BASELINE['before-embedded'] = 'ours-embedded'
    BASELINE['before-daemon'] = 'ours-daemon'
STATIC_PATHS = {'hello': '/hello', 'file1m': '/file1m'}
sys.path.insert(0, HERE)
import peers  # noqa: E402
VARIANTS.update(peers.VARIANTS)
PEERS = [v for v, spec in peers.VARIANTS.items() if spec.get('peer')]


def apxs(var):
    return subprocess.run(['apxs', '-q', var], capture_output=True, text=True, check=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def config(root, port, variant, peer_port=None):
    spec = VARIANTS[variant]
    modules = apxs('LIBEXECDIR')
    lines = [
        'ServerRoot %s' % root,
        'Listen 127.0.0.1:%d' % port,
        'ServerName 127.0.0.1',
        'PidFile %s/httpd.pid' % root,
        'ErrorLog %s/error.log' % root,
        'LogLevel warn',
        'DefaultRuntimeDir %s' % root,
        'Mutex file:%s' % root,
        'LoadModule mpm_event_module %s/mod_mpm_event.so' % modules,
        'LoadModule authz_core_module %s/mod_authz_core.so' % modules,
        'LoadModule alias_module %s/mod_alias.so' % modules,
        'StartServers 2', 'ServerLimit 4', 'ThreadsPerChild 25', 'MaxRequestWorkers 100',
        'MinSpareThreads 25', 'MaxSpareThreads 100', 'KeepAlive On', 'MaxKeepAliveRequests 0',
        'EnableSendfile %s' % APACHE_SENDFILE,
        '<Directory %s>' % root, '  Require all granted', '</Directory>',
    ]
    if os.geteuid() == 0:
        lines += ['User www-data', 'Group www-data']
    if spec.get('static'):
        lines += ['Alias /hello %s/hello.txt' % root, 'Alias /file1m %s/file1m.bin' % root]
    elif spec.get('peer') or spec.get('c_handler'):
        lines += peers.config_lines(spec, root, modules, peer_port)
    else:
        lines += ['LoadModule wsgi_module %s' % spec['module'],
                  'WSGIScriptAlias / %s/app.wsgi' % root]
        if spec['daemon']:
            lines += ['WSGIDaemonProcess bench processes=2 threads=8 display-name=%{GROUP}',
                      'WSGIProcessGroup bench']
        if spec.get('metrics'):
            group = 'bench' if spec['daemon'] else '%{GLOBAL}'
            lines += ['WSGIImportScript %s/metrics_on.py process-group=%s application-group=%%{GLOBAL}'
                      % (root, group)]
    return '\n'.join(lines) + '\n'


def prepare_root(variant):
    root = tempfile.mkdtemp(prefix='mod_wsgi_rs-bench-%s-' % variant)
    os.chmod(root, 0o755)
    shutil.copy(os.path.join(HERE, 'app.wsgi'), root)
    with open(os.path.join(root, 'metrics_on.py'), 'w') as f:
        f.write('import mod_wsgi\nmod_wsgi.start_recording_metrics()\n')
    with open(os.path.join(root, 'hello.txt'), 'wb') as f:
        f.write(b'Hello World!')
    with open(os.path.join(root, 'file1m.bin'), 'wb') as f:
        f.write(os.urandom(1 << 20))
    for name in os.listdir(root):
        os.chmod(os.path.join(root, name), 0o644)
    return root


def get(port, path, timeout=5):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


class Apache:
    def __init__(self, variant):
        self.variant = variant
        self.root = prepare_root(variant)
        self.port = free_port()
        t0 = time.monotonic()
        self.peer, peer_port = peers.start(VARIANTS[variant], self.root)
        with open(os.path.join(self.root, 'httpd.conf'), 'w') as f:
            f.write(config(self.root, self.port, variant, peer_port))
        binary = os.path.join(apxs('SBINDIR'), apxs('TARGET'))
        self.proc = subprocess.Popen([binary, '-f', os.path.join(self.root, 'httpd.conf'), '-DFOREGROUND'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        path = '/hello'
        deadline = t0 + 60
        self.status = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('%s: httpd exited at start-up:\n%s' % (variant, self.log()))
            self.status = get(self.port, path, timeout=2)
            if self.status is not None and self.status < 500 or self.status == 503:
                break
            time.sleep(0.02)
        self.startup = time.monotonic() - t0

    def log(self):
        try:
            with open(os.path.join(self.root, 'error.log')) as f:
                return f.read()[-3000:]
        except OSError:
            return ''

    def processes(self):
        """(pid, rss_kib, cmdline) of every process in the server's session."""
        out = []
        sessions = [self.proc.pid] + ([self.peer.pid] if self.peer else [])
        for pid in (p for sid in sessions for p in session_pids(sid)):
            try:
                with open('/proc/%d/status' % pid) as f:
                    rss = int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
                out.append((pid, rss, cmd))
            except (OSError, AttributeError, ValueError):
                continue
        return out

    def cost(self):
        """(CPU seconds, voluntary context switches) of the server's
        processes so far, all threads."""
        cpu = switches = 0
        for pid, _, _ in self.processes():
            try:
                with open('/proc/%d/stat' % pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
                for task in os.listdir('/proc/%d/task' % pid):
                    with open('/proc/%d/task/%s/status' % (pid, task)) as f:
                        m = re.search(r'\nvoluntary_ctxt_switches:\s+(\d+)', f.read())
                    switches += int(m.group(1)) if m else 0
            except (OSError, IndexError, ValueError):
                continue
        return cpu, switches

    def stop(self):
        """SIGTERM (what `apachectl stop` sends; the peer too) until every
        process is gone."""
        procs = [self.proc] + ([self.peer] if self.peer else [])
        t0 = time.monotonic()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = t0 + 30
        while time.monotonic() < deadline and self.processes():
            for proc in procs:
                proc.poll()
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        return elapsed


def session_pids(session):
    """The pids of session `session` (a server started in its own
    session: Apache and its daemons; fields[3] of /proc/PID/stat)."""
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            if int(fields[3]) == session:
                yield int(pid)
        except (OSError, IndexError, ValueError):
            continue


def session_cpu(session):
    """CPU seconds (all threads) of the processes of session `session`."""
    total = 0.0
    for pid in session_pids(session):
        try:
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            continue
    return total


UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1000.0}
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def wrk(port, scenario, duration):
    path = STATIC_PATHS.get(scenario, '/' + scenario)
    args = ['wrk', '-t1', '-c16', '-d%ds' % duration, '--latency', '--timeout', '10s']
    if scenario == 'echo64k':
        args += ['-s', os.path.join(HERE, 'post64k.lua')]
    out = subprocess.run(args + ['http://127.0.0.1:%d%s' % (port, path)],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    return parse_wrk(out)


def parse_wrk(out):
    """wrk's output: req/s, p50 and p99 in ms, errors."""
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    lat = {m.group(1): float(m.group(2)) * UNITS[m.group(3)]
           for m in re.finditer(r'^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)}
    errors = sum(int(x) for x in re.findall(r'(?:connect|read|write|timeout) (\d+)', out))
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    errors += int(m.group(1)) if m else 0
    return {'rps': rps, 'p50': lat.get('50'), 'p99': lat.get('99'), 'errors': errors}


# Apache's EnableSendfile for every variant (--apache-sendfile): On by
# default so `file1m` shows sendfile; Apache's own default is Off.
APACHE_SENDFILE = 'On'


def main():
    global APACHE_SENDFILE
    ap = argparse.ArgumentParser()
    ap.add_argument('--apache-sendfile', choices=['On', 'Off'], default='On')
    ap.add_argument('--rounds', type=int, default=int(os.environ.get('BENCH_ROUNDS', 2)))
    ap.add_argument('--duration', type=int, default=int(os.environ.get('BENCH_DURATION', 10)))
    ap.add_argument('--variants', default=','.join(v for v in VARIANTS if not v.startswith('metrics-')))
    ap.add_argument('--scenarios', default=','.join(SCENARIOS))
    args = ap.parse_args()
    APACHE_SENDFILE = args.apache_sendfile
    variants = args.variants.split(',')
    scenarios = args.scenarios.split(',')
    # Installed and built before any round: not in a start-up time.
    if any(VARIANTS[v].get('peer') for v in variants):
        peers.venv()
    if 'c-handler' in variants:
        peers.c_handler()
    results = {}  # (variant, scenario) -> [run, ...]
    lifecycle = {}  # variant -> {'startup': [...], 'stop': [...], 'rss': [...], 'daemon_rss': [...]}
    unavailable = {}

    for rnd in range(args.rounds):
        for variant in variants:
            if variant in unavailable:
                continue
            server = Apache(variant)
            if server.status != 200:
                unavailable[variant] = 'status %s at start-up' % server.status
                print('round %d %s: unavailable (%s)' % (rnd + 1, variant, unavailable[variant]), flush=True)
                server.stop()
                continue
            life = lifecycle.setdefault(variant, {'startup': [], 'stop': [], 'rss': [], 'daemon_rss': []})
            life['startup'].append(server.startup)
            for scenario in scenarios:
                if VARIANTS[variant].get('static') and scenario not in STATIC_PATHS:
                    continue
                wrk(server.port, scenario, 1)  # warm-up
                before = server.cost()
                r = wrk(server.port, scenario, args.duration)
                after = server.cost()
                served = max(r['rps'] * args.duration, 1)
                r['cpu_us'] = (after[0] - before[0]) * 1e6 / served
                r['switches'] = (after[1] - before[1]) / served
                results.setdefault((variant, scenario), []).append(r)
                print('round %d %-17s %-10s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d'
                      '  server CPU %6.1f us/req  switches %5.2f/req'
                      % (rnd + 1, variant, scenario, r['rps'], r['p50'] or 0, r['p99'] or 0, r['errors'],
                         r['cpu_us'], r['switches']),
                      flush=True)
            procs = server.processes()
            life['rss'].append(sum(p[1] for p in procs))
            life.setdefault('pss', []).append(sum(pss_kib(p[0]) for p in procs))
            daemons = [p[1] for p in procs if '(wsgi:' in p[2]]
            if daemons:
                life['daemon_rss'].append(statistics.mean(daemons))
            life['stop'].append(server.stop())

    report(variants, scenarios, results, lifecycle, unavailable, args)


def pss_kib(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            return int(re.search(r'^Pss:\s+(\d+)', f.read(), re.M).group(1))
    except (OSError, AttributeError):
        return 0


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def against_peers(results, variant, scenario, rps):
    """Ours against the best proxied peer and the C handler, same run."""
    if not variant.startswith('ours-'):
        return '', ''
    peer_rps = [med([r['rps'] for r in results[(p, scenario)]])
                for p in PEERS if results.get((p, scenario))]
    best = '%.2f×' % (rps / max(peer_rps)) if peer_rps else ''
    c = results.get(('c-handler', scenario))
    ceiling = '%.2f×' % (rps / med([r['rps'] for r in c])) if c else ''
    return best, ceiling


def report(variants, scenarios, results, lifecycle, unavailable, args):
    print('\n## Throughput (median of %d rounds, wrk -t1 -c16 -d%ds, event MPM)\n' % (args.rounds, args.duration))
    print('| variant | scenario | req/s | p50 ms | p99 ms | errors | server CPU µs/req | switches/req | ratio to baseline | ÷ best proxied peer | ÷ C handler |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for scenario in scenarios:
        for variant in variants:
            runs = results.get((variant, scenario))
            if not runs:
                if variant in unavailable:
                    print('| %s | %s | n/a (%s) | | | | | | | | |' % (variant, scenario, unavailable[variant]))
                continue
            rps = med([r['rps'] for r in runs])
            ratio = ''
            base = results.get((BASELINE.get(variant), scenario))
            if base:
                ratio = '%.2f×' % (rps / med([r['rps'] for r in base]))
            peer, ceiling = against_peers(results, variant, scenario, rps)
            print('| %s | %s | %.0f | %.2f | %.2f | %d | %.0f | %.2f | %s | %s | %s |' % (
                variant, scenario, rps, med([r['p50'] for r in runs]) or 0,
                med([r['p99'] for r in runs]) or 0, sum(r['errors'] for r in runs),
                med([r['cpu_us'] for r in runs]), med([r['switches'] for r in runs]), ratio,
                peer, ceiling))
    print('\n## Processes (median over rounds)\n')
    print('| variant | start → first 200 (s) | stop → all gone (s) | RSS total MiB | PSS total MiB | RSS per daemon MiB |')
    print('|---|---:|---:|---:|---:|---:|')
    for variant in variants:
        life = lifecycle.get(variant)
        if not life:
            continue
        daemon = med(life['daemon_rss'])
        print('| %s | %.2f | %.2f | %.1f | %.1f | %s |' % (
            variant, med(life['startup']), med(life['stop']), med(life['rss']) / 1024,
            med(life.get('pss', [0])) / 1024, '%.1f' % (daemon / 1024) if daemon else '-'))
    print('\nround-by-round figures are printed above the tables; a ratio compares medians.')
    print('ratio: ours-* to mod_wsgi, before-* (MOD_WSGI_RS_BEFORE_SO) and metrics-* (recording on) to ours;')
    print('÷ best proxied peer: to the fastest of gunicorn/granian/uwsgi behind the same Apache; ÷ C handler: to c-handler.')
    print('server CPU and switches: all processes of the server (Apache and daemons),')
    print('per request served; wrk\'s own CPU is not in them.')


if __name__ == '__main__':
    sys.exit(main())
