"""Instructions per request, under callgrind: repeatable where wall-clock
figures on a shared virtual machine are not (it has no hardware counters for `perf stat`).

For each variant, Apache runs under valgrind twice, serving N and then
N + 1000 keep-alive GETs of one path from one client; the difference of
the two runs' instruction counts, over 1000, is one request's cost with
start-up and shutdown taken out. User-space instructions only: the
kernel's part (sockets, context switches) is not counted.

Single-process (httpd -X) by default, so every instruction of a request is
in one process; embedded mode only (in -X, ours starts no daemons).
--multi runs Apache as usual and counts every process that callgrind
follows: the Apache children and the daemons (started without
display-name=, whose process title would overwrite valgrind's options).

usage: callgrind.py [--multi] [--path /hello] VARIANT[=MODULE.so] ...
"""

import argparse
import glob
import http.client
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

WARM = 100


def run(variant, path, n, multi):
    """Total instructions of every process of one run serving `n` requests."""
    root = bench.prepare_root(variant)
    # The processes switch to Apache's User before callgrind writes its
    # counts: the directory and the count files must be theirs to write.
    os.chmod(root, 0o777)
    port = bench.free_port()
    conf = os.path.join(root, 'httpd.conf')
    with open(conf, 'w') as f:
        # No process titles: a daemon that sets one overwrites the memory
        # that holds valgrind's own options, and then writes no counts.
        # And time to write them at exit, before the parent's SIGKILL. One
        # daemon process: with two, the runs may differ in how many of
        # them made the application's interpreter (~100M instructions).
        conf_text = bench.config(root, port, variant)
        conf_text = conf_text.replace(' display-name=%{GROUP}', ' shutdown-timeout=60')
        f.write(conf_text.replace(' processes=2 ', ' processes=1 '))
    out = os.path.join(root, 'callgrind.out')
    binary = os.path.join(bench.apxs('SBINDIR'), bench.apxs('TARGET'))
    mode = ['-DFOREGROUND'] if multi else ['-X']
    with open(os.path.join(root, 'valgrind.log'), 'w') as log:
        p = subprocess.Popen(['valgrind', '--tool=callgrind', '--vgdb=no', '--trace-children=yes',
                              '--callgrind-out-file=%s.%%p' % out, binary] + mode + ['-f', conf],
                             stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while bench.get(port, path, timeout=5) != 200:
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError('%s: not serving %s under valgrind (see %s)' % (variant, path, root))
            time.sleep(0.5)
        time.sleep(3)  # every process has started and made its count file
        for f in glob.glob(out + '.*'):
            os.chmod(f, 0o666)
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        for _ in range(n):
            c.request('GET', path)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError('%s: %s answered %d' % (variant, path, r.status))
        c.close()
        time.sleep(1)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        time.sleep(2)
    total = 0
    files = glob.glob(out + '.*')
    for f in files:
        with open(f) as fh:
            for line in fh:
                if line.startswith('summary:'):
                    total += int(line.split()[1])
                    break
    return total, root, len(files)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--multi', action='store_true')
    ap.add_argument('--path', default='/hello')
    ap.add_argument('variants', nargs='+')
    args = ap.parse_args()
    print('| variant | %s instructions per request |%s' % (args.path, ' (Apache side, --multi)' if args.multi else ''))
    print('|---|---:|')
    for v in args.variants:
        name, _, module = v.partition('=')
        if module:
            # NAME=SO: another build of ours, say main's, in NAME's mode
            # (a name not in the bench, such as before-daemon, is ours').
            like = name if name in bench.VARIANTS else (
                'ours-daemon' if name.endswith('daemon') else 'ours-embedded')
            bench.VARIANTS[name] = dict(bench.VARIANTS[like], module=module)
        a, root_a, files_a = run(name, args.path, WARM, args.multi)
        b, root_b, files_b = run(name, args.path, WARM + 1000, args.multi)
        if files_a != files_b:
            # A process that wrote no counts in one run: no figure.
            print('| %s | (%d and %d processes wrote counts: see %s, %s) |' % (v, files_a, files_b, root_a, root_b))
            continue
        print('| %s | %.0f |' % (v, (b - a) / 1000), flush=True)
        for root in (root_a, root_b):
            subprocess.run(['rm', '-rf', root])


if __name__ == '__main__':
    main()
