"""Soak test of mod_wsgi-rs: mixed keep-alive traffic for N minutes with a
graceful restart every 60 s, sampling every process of the server.

Traffic (loopback only, bounded by the duration): GET, POST (small and
256 KiB), a wsgi.file_wrapper file, one whose file the application cuts
short while it is sent, 1 MiB and (rarely) 80 MiB bodies, and an
application error, half of it to a daemon group, half embedded. Beside
it, local connections to the daemon socket that trickle a byte a second
without the secret (as a process running as Apache's User could). Every
10 s it samples, per process role (parent, Apache children, daemons):
RSS, open descriptors and threads, plus the number of socket files and
the number of processes of each role, and the most Python interpreters
any daemon or Apache child has (each mount is one application group, so
a process should have its main interpreter and one more). At the end it prints each series'
least-squares slope per hour and the response counts; a leak shows as a
slope that does not fall with a longer run.
"""

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OURS = os.path.join(REPO, 'target/release/libmod_wsgi_rs.so')


def apxs(var):
    return subprocess.run(['apxs', '-q', var], capture_output=True, text=True, check=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def config(root, port, mpm):
    modules = apxs('LIBEXECDIR')
    lines = [
        'ServerRoot %s' % root, 'Listen 127.0.0.1:%d' % port, 'ServerName 127.0.0.1',
        'PidFile %s/httpd.pid' % root, 'ErrorLog %s/error.log' % root, 'LogLevel warn',
        'DefaultRuntimeDir %s' % root, 'Mutex file:%s' % root,
        'LoadModule mpm_%s_module %s/mod_mpm_%s.so' % (mpm, modules, mpm),
        'LoadModule authz_core_module %s/mod_authz_core.so' % modules,
        'LoadModule alias_module %s/mod_alias.so' % modules,
        'LoadModule wsgi_module %s' % OURS,
        'StartServers 2', 'KeepAlive On', 'MaxKeepAliveRequests 0', 'GracefulShutdownTimeout 10',
        '<Directory %s>' % root, '  Require all granted', '</Directory>',
        'WSGIDaemonProcess soak processes=2 threads=8 display-name=%{GROUP}',
        'WSGIScriptAlias /d %s/app.wsgi process-group=soak' % root,
        'WSGIScriptAlias /e %s/app.wsgi' % root,
    ]
    if os.geteuid() == 0:
        lines += ['User www-data', 'Group www-data']
    return '\n'.join(lines) + '\n'


# (weight, method, path, body)
MIX = [
    (40, 'GET', '/hello', None),
    (15, 'POST', '/post', b'k=v' * 10),
    (8, 'POST', '/post', os.urandom(256 << 10)),
    (10, 'GET', '/file', None),
    (10, 'GET', '/1m', None),
    (1, 'GET', '/80m', None),
    (4, 'GET', '/raise', None),
    (5, 'GET', '/truncate', None),
]


def trickler(root, deadline, counts, n=4):
    """`n` connections to the newest daemon socket, each sending the start
    of a Request frame one byte a second; one the daemon closes is made
    again (counted as 'trickle closed')."""
    prefix = bytes([1, 0, 0, 16, 0, 2]) + bytes(64)
    conns = []
    while time.monotonic() < deadline:
        socks = sorted((n for n in os.listdir(root) if n.endswith('.sock')),
                       key=lambda n: os.stat(os.path.join(root, n)).st_mtime)
        while socks and len(conns) < n:
            try:
                c = socket.socket(socket.AF_UNIX)
                c.connect(os.path.join(root, socks[-1]))
                conns.append([c, 0])
            except OSError:
                break
        for c in list(conns):
            try:
                c[0].send(prefix[c[1] % len(prefix):][:1])
                c[1] += 1
            except OSError:
                counts.add('trickle closed')
                c[0].close()
                conns.remove(c)
        time.sleep(1)
    for c in conns:
        c[0].close()


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by = {}

    def add(self, key):
        with self.lock:
            self.by[key] = self.by.get(key, 0) + 1


def client(port, deadline, counts, seed):
    rnd = random.Random(seed)
    weights = [m[0] for m in MIX]
    conn = None
    while time.monotonic() < deadline:
        _, method, path, body = rnd.choices(MIX, weights)[0]
        # (A file cut short under Apache is a daemon's lie; in embedded
        # mode the file is Apache's own to map, as with EnableMMAP.)
        mount = '/d' if path == '/truncate' else rnd.choice(['/d', '/e'])
        try:
            if conn is None:
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
            conn.request(method, mount + path, body=body)
            r = conn.getresponse()
            r.read()
            counts.add('%s %d' % (path, r.status))
            if r.getheader('Connection', '').lower() == 'close':
                conn.close()
                conn = None
        except Exception as e:
            counts.add('%s error %s' % (path, type(e).__name__))
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.05)


def processes(pgid_root, parent):
    """(role, pid) for the parent, its children and the daemons."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        ppid = int(stat.rsplit(')', 1)[1].split()[1])
        pid = int(name)
        if pid == parent:
            out.append(('parent', pid))
        elif ppid == parent:
            role = 'daemon' if 'wsgi:soak' in cmd else ('keeper' if 'wsgi-rs-sockets' in stat else 'child')
            out.append((role, pid))
    return out


def sample_proc(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            status = dict(l.split(':', 1) for l in f if ':' in l)
        rss = int(status['VmRSS'].split()[0]) / 1024.0
        threads = int(status['Threads'])
        fds = len(os.listdir('/proc/%d/fd' % pid))
        return rss, fds, threads
    except (OSError, KeyError, ValueError):
        return None


def interpreters(port, mount, asks=12):
    """The most interpreters any process answering under `mount` has
    (asked `asks` times: each answer comes from one process)."""
    most = 0
    for _ in range(asks):
        try:
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
            c.request('GET', mount + '/interp')
            _, count = c.getresponse().read().decode().split()
            most = max(most, int(count))
            c.close()
        except Exception:
            pass
    return most


def slope_per_hour(points):
    if len(points) < 3:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / var * 3600


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--minutes', type=float, default=30)
    ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--mpm', default='event')
    ap.add_argument('--graceful-every', type=float, default=60)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix='mod_wsgi_rs-soak-')
    os.chmod(root, 0o755)
    shutil.copy(os.path.join(HERE, 'app.wsgi'), root)
    with open(os.path.join(root, 'file1m.bin'), 'wb') as f:
        f.write(os.urandom(1 << 20))
    for name in os.listdir(root):
        os.chmod(os.path.join(root, name), 0o644)
    port = free_port()
    conf = os.path.join(root, 'httpd.conf')
    with open(conf, 'w') as f:
        f.write(config(root, port, args.mpm))
    binary = os.path.join(apxs('SBINDIR'), apxs('TARGET'))
    proc = subprocess.Popen([binary, '-f', conf, '-DFOREGROUND'], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
                c.request('GET', '/d/hello')
                if c.getresponse().status == 200:
                    break
            except Exception:
                time.sleep(0.2)
        else:
            sys.exit('the server did not come up; see %s/error.log' % root)
        start = time.monotonic()
        end = start + args.minutes * 60
        counts = Counts()
        workers = [threading.Thread(target=client, args=(port, end, counts, i), daemon=True)
                   for i in range(args.clients)]
        workers.append(threading.Thread(target=trickler, args=(root, end, counts), daemon=True))
        for w in workers:
            w.start()
        series = {}
        restarts = 0
        next_graceful = start + args.graceful_every
        next_sample = start
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_graceful:
                os.kill(proc.pid, signal.SIGUSR1)
                restarts += 1
                next_graceful += args.graceful_every
            if now >= next_sample:
                t = now - start
                totals = {}
                for role, pid in processes(root, proc.pid):
                    s = sample_proc(pid)
                    if s is None:
                        continue
                    agg = totals.setdefault(role, [0.0, 0, 0, 0])
                    agg[0] += s[0]
                    agg[1] += s[1]
                    agg[2] += s[2]
                    agg[3] += 1
                # Per process of each role (their number changes around
                # each restart), and how many there are.
                for role, (rss, fds, threads, n) in totals.items():
                    per = (('RSS MiB per process', rss / n), ('fds per process', fds / n),
                           ('threads per process', threads / n), ('processes', n))
                    for what, v in per:
                        series.setdefault('%s %s' % (role, what), []).append((t, v))
                series.setdefault('daemon interpreters (most in a process)', []).append(
                    (t, interpreters(port, '/d')))
                series.setdefault('child interpreters (most in a process)', []).append(
                    (t, interpreters(port, '/e')))
                socks = len([n for n in os.listdir(root) if '.sock' in n])
                series.setdefault('socket files', []).append((t, socks))
                next_sample += 10
            time.sleep(0.2)
        for w in workers:
            w.join(60)
        print('## Soak: %.0f min, %d clients, %s MPM, graceful every %.0f s (%d restarts)'
              % (args.minutes, args.clients, args.mpm, args.graceful_every, restarts))
        print()
        print('| series | first | last | min | max | slope per hour |')
        print('|---|---:|---:|---:|---:|---:|')
        for name in sorted(series):
            pts = series[name]
            vals = [v for _, v in pts]
            print('| %s | %.1f | %.1f | %.1f | %.1f | %+.2f |'
                  % (name, vals[0], vals[-1], min(vals), max(vals), slope_per_hour(pts)))
        print()
        print('| responses | count |')
        print('|---|---:|')
        for k in sorted(counts.by):
            print('| %s | %d |' % (k, counts.by[k]))
        with open(os.path.join(root, 'error.log'), errors='replace') as f:
            log = f.read()
        print()
        print('error log: %d lines, %d with "refused", %d with "closed the connection", %d tracebacks, '
              '%d processes died of a signal'
              % (log.count('\n'), log.count('refused'), log.count('closed the connection'),
                 log.count('Traceback'), log.count('exit signal')))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
