"""One httpd for a side-by-side benchmark (own_gil.py, free_threading.py,
warm_swaps.py): a fresh server root with the application, a config of
the common head plus the scenario's lines, started and stopped by pid."""

import os
import signal
import subprocess
import tempfile
import time

from bench import apxs, free_port


class OneHttpd:
    def __init__(self, tag, app, module, lines, env=None):
        self.root = tempfile.mkdtemp(prefix='mod_wsgi_rs-bench-%s-' % tag)
        os.chmod(self.root, 0o755)
        self.app = os.path.join(self.root, 'app.wsgi')
        with open(self.app, 'w') as f:
            f.write(app)
        os.chmod(self.app, 0o644)
        self.port = free_port()
        modules = apxs('LIBEXECDIR')
        head = [
            'ServerRoot %s' % self.root, 'Listen 127.0.0.1:%d' % self.port,
            'ServerName 127.0.0.1', 'PidFile %s/httpd.pid' % self.root,
            'ErrorLog %s/error.log' % self.root, 'LogLevel warn',
            'DefaultRuntimeDir %s' % self.root, 'Mutex file:%s' % self.root,
            'LoadModule mpm_event_module %s/mod_mpm_event.so' % modules,
            'LoadModule authz_core_module %s/mod_authz_core.so' % modules,
            'LoadModule alias_module %s/mod_alias.so' % modules,
            'LoadModule wsgi_module %s' % module,
            'WSGISocketPrefix %s/wsgi' % self.root,
            '<Directory %s>' % self.root, '  Require all granted', '</Directory>',
        ]
        if os.geteuid() == 0:
            head += ['User www-data', 'Group www-data']
        conf = os.path.join(self.root, 'httpd.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join(head + [l.replace('@APP@', self.app) for l in lines]) + '\n')
        binary = os.path.join(apxs('SBINDIR'), apxs('TARGET'))
        subprocess.run([binary, '-f', conf, '-k', 'start'], check=True, env=env)
        pidfile = os.path.join(self.root, 'httpd.pid')
        deadline = time.monotonic() + 30
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(pidfile) as f:
            self.pid = int(f.read())

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists('/proc/%d' % self.pid):
            time.sleep(0.05)
