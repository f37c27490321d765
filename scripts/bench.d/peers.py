"""What users would pick instead, for scripts/bench: the same Apache
(same MPM settings, same KeepAlive) proxying to a WSGI server of its own
(mod_proxy_http to gunicorn gthread and to Granian, mod_proxy_uwsgi to
uWSGI; 2 processes x 8 threads, as our daemon variants), and a minimal C
handler in Apache as the ceiling. The servers come from PyPI in a bench
virtualenv; the C handler is built with apxs.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO, 'target/bench-peers-venv')
C_DIR = os.path.join(REPO, 'target/bench-c')
PACKAGES = ['gunicorn==23.0.0', 'granian==2.5.0', 'uwsgi==2.0.30']

VARIANTS = {
    'c-handler': {'c_handler': True},
    'gunicorn-proxy': {'peer': 'gunicorn'},
    'granian-proxy': {'peer': 'granian'},
    'uwsgi-proxy': {'peer': 'uwsgi'},
}


def venv():
    """The bench virtualenv with the peers (made once)."""
    marker = os.path.join(VENV, 'ok-' + '-'.join(PACKAGES))
    if not os.path.exists(marker):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run(['/usr/bin/python3', '-m', 'venv', VENV], check=True)
        subprocess.run([os.path.join(VENV, 'bin/pip'), 'install', '-q'] + PACKAGES, check=True)
        os.chmod(VENV, 0o755)
        subprocess.run(['chmod', '-R', 'a+rX', VENV], check=True)
        open(marker, 'w').close()
    return VENV


def c_handler():
    """mod_bench_hello.so, built with apxs into target/bench-c."""
    so = os.path.join(C_DIR, '.libs/mod_bench_hello.so')
    src = os.path.join(HERE, 'mod_bench_hello.c')
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        os.makedirs(C_DIR, exist_ok=True)
        shutil.copy(src, C_DIR)
        subprocess.run(['apxs', '-c', 'mod_bench_hello.c'], cwd=C_DIR, check=True,
                       stdout=subprocess.DEVNULL)
    return so


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def config_lines(spec, root, modules, peer_port):
    """Apache directives of a peer or ceiling variant."""
    if spec.get('c_handler'):
        return ['LoadModule bench_hello_module %s' % c_handler(),
                '<Location />', '  SetHandler bench-hello', '</Location>']
    lines = ['LoadModule proxy_module %s/mod_proxy.so' % modules]
    if spec['peer'] == 'uwsgi':
        lines += ['LoadModule proxy_uwsgi_module %s/mod_proxy_uwsgi.so' % modules,
                  'ProxyPass / uwsgi://127.0.0.1:%d/' % peer_port]
    else:
        lines += ['LoadModule proxy_http_module %s/mod_proxy_http.so' % modules,
                  'ProxyPass / http://127.0.0.1:%d/' % peer_port]
    return lines


def start(spec, root):
    """Starts the peer in its own session; (Popen, port), or (None, None)."""
    peer = spec.get('peer')
    if not peer:
        return None, None
    bindir = os.path.join(venv(), 'bin')
    port = free_port()
    shutil.copy(os.path.join(root, 'app.wsgi'), os.path.join(root, 'bench_app.py'))
    user = ['www-data'] if os.geteuid() == 0 else []
    if peer == 'gunicorn':
        cmd = [os.path.join(bindir, 'gunicorn'), '--worker-class', 'gthread', '--workers', '2',
               '--threads', '8', '--bind', '127.0.0.1:%d' % port, '--chdir', root,
               '--keep-alive', '5', 'bench_app:application']
        cmd += ['--user', 'www-data', '--group', 'www-data'] if user else []
    elif peer == 'granian':
        cmd = [os.path.join(bindir, 'granian'), '--interface', 'wsgi', '--workers', '2',
               '--blocking-threads', '8', '--host', '127.0.0.1', '--port', str(port),
               '--working-dir', root, 'bench_app:application']
    else:
        cmd = [os.path.join(bindir, 'uwsgi'), '--uwsgi-socket', '127.0.0.1:%d' % port,
               '--master', '--processes', '2', '--threads', '8', '--die-on-term',
               '--wsgi-file', os.path.join(root, 'app.wsgi'), '--chdir', root,
               '--disable-logging', '--need-app']
        cmd += ['--uid', 'www-data', '--gid', 'www-data'] if user else []
    proc = subprocess.Popen(cmd, cwd=root, stdout=open(os.path.join(root, 'peer.log'), 'w'),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit('bench: %s exited at start-up:\n%s' % (peer, open(os.path.join(root, 'peer.log')).read()))
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    sys.exit('bench: %s did not listen on %d' % (peer, port))
