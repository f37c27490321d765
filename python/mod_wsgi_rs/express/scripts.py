"""The files setup-server writes beside httpd.conf: apachectl, envvars,
handler.wsgi (which loads the entry point), default.wsgi, rewrite.conf."""

import os
import shlex

from . import apache_conf
from .layout import serving_gid
from .server_root import is_own_regular_file, own_directory, write_file

APACHECTL = '''#!/bin/sh
# Written by mod_wsgi-express (mod_wsgi-rs): controls this server root's
# Apache. start|stop|restart|graceful|graceful-stop|configtest
HTTPD=%(httpd)s
CONF=%(conf)s
SERVER_ROOT=%(root)s
cd %(workdir)s || exit 1
LANG=%(lang)s
LC_ALL=%(locale)s
export LANG LC_ALL
# What mod_wsgi-express's apachectl exports too (apps may read them).
%(exports)s
[ -f "$SERVER_ROOT/envvars" ] && . "$SERVER_ROOT/envvars"
%(envvars)s
case "$1" in
start|stop|restart|graceful|graceful-stop)
    cmd=$1; shift
    exec "$HTTPD" -f "$CONF" -k "$cmd" "$@" ;;
configtest)
    exec "$HTTPD" -f "$CONF" -t ;;
*)
    exec "$HTTPD" -f "$CONF" "$@" ;;
esac
'''

HANDLER = '''# Written by mod_wsgi-express (mod_wsgi-rs): loads the entry point.
import os
from mod_wsgi_rs.express.handler import Application

os.environ.update(%(environ)r)

_app = Application(%(entry)r, application_type=%(kind)r,
                   callable_object=%(callable)r, mount_point=%(mount)r)

handle_request = _app.handle_request
%(reload)s%(reloader)s'''

DEFAULT = '''# mod_wsgi-express was given no entry point: this page says so.
def application(environ, start_response):
    body = b"mod_wsgi-rs: it works. Give mod_wsgi-express a WSGI script file."
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
'''


def write_all(s):
    """Writes the server root; returns the path of httpd.conf."""
    root = s['server_root']
    own_directory(root, '--server-root', serving_gid(s['group']))
    for d in (s['document_root'], s['log_directory'], s['python_eggs']):
        os.makedirs(d, exist_ok=True)
    if s['user']:
        # The daemons (running as --user) keep egg caches here.
        os.chown(s['python_eggs'], _uid(s['user']), -1, follow_symlinks=False)
    conf = os.path.join(root, 'httpd.conf')
    write_file(conf, apache_conf.render(s))
    # (A --rewrite-rules file of the user's is theirs; ours is checked.)
    ours = os.path.dirname(s['rewrite_rules']) == root
    if not (is_own_regular_file(s['rewrite_rules']) if ours
            else os.path.exists(s['rewrite_rules'])):
        write_file(s['rewrite_rules'], '')
    if not is_own_regular_file(os.path.join(root, 'envvars')):
        write_file(os.path.join(root, 'envvars'),
               '# Sourced by apachectl: export variables for the server here.\n')
    envvars = '. %s' % shlex.quote(s['envvars_script']) \
        if s['envvars_script'] else ''
    write_file(os.path.join(root, 'apachectl'), APACHECTL % dict(
        httpd=shlex.quote(s['httpd']), conf=shlex.quote(conf),
        root=shlex.quote(root), workdir=shlex.quote(s['working_directory']),
        lang=shlex.quote(s['lang']), locale=shlex.quote(s['locale']),
        envvars=envvars, exports=_exports(s)), 0o755)
    reload = '' if s['disable_reloading'] else \
        'reload_required = _app.reload_required\n'
    reloader = '' if s['disable_reloading'] or not s['reload_on_changes'] else \
        ('\nfrom mod_wsgi_rs.express import reloader\n'
         'reloader.start(extra=[%r])\n' % s['entry_point']
         if s['application_type'] == 'script' else
         '\nfrom mod_wsgi_rs.express import reloader\nreloader.start()\n')
    write_file(os.path.join(root, 'handler.wsgi'), HANDLER % dict(
        entry=s['entry_point'], kind=s['application_type'],
        callable=s['callable_object'], mount=s['mount_point'],
        reload=reload, reloader=reloader, environ=_app_environ(s)))
    if s['entry_point'] == os.path.join(root, 'default.wsgi'):
        write_file(s['entry_point'], DEFAULT)
    return conf


def _exports(s):
    import getpass
    values = {
        'MOD_WSGI_SERVER_ROOT': s['server_root'],
        'MOD_WSGI_LISTENER_HOST': s['host'],
        'MOD_WSGI_HTTP_PORT': str(s['port']),
        'MOD_WSGI_HTTPS_PORT': str(s['https_port']),
        'MOD_WSGI_USER': s['user'] or getpass.getuser(),
        'MOD_WSGI_GROUP': s['group'] or getpass.getuser(),
        'MOD_WSGI_MODULES_DIRECTORY': s['modules_directory'],
        'MOD_WSGI_WORKING_DIRECTORY': s['working_directory'],
    }
    return '\n'.join('%s=%s\nexport %s' % (k, shlex.quote(v), k)
                     for k, v in values.items())


def _app_environ(s):
    environ = {'MOD_WSGI_EXPRESS': 'true',
               'MOD_WSGI_SERVER_NAME': s['server_name'],
               'MOD_WSGI_SERVER_ALIASES': ' '.join(s['server_aliases'] or [])}
    if s['reload_on_changes'] and not s['disable_reloading']:
        environ['MOD_WSGI_RELOADER_ENABLED'] = 'true'
    return environ


def _uid(user):
    import pwd
    return pwd.getpwnam(user).pw_uid


def describe(s, conf):
    """What setup-server prints: where everything is."""
    url = 'http://%s:%s/' % (s['host'], s['port'])
    lines = [('Server URL', url)]
    if s['https_port']:
        lines.append(('Server URL (HTTPS)', 'https://%s:%s/'
                      % (s['host'], s['https_port'])))
    lines += [('Server Root', s['server_root']), ('Server Conf', conf),
              ('Error Log File', '%s (%s)' % (
                  '/dev/stderr' if s['log_to_terminal'] else s['error_log_file'],
                  s['log_level']))]
    if s['access_log']:
        lines.append(('Access Log File', '/dev/stdout'
                      if s['log_to_terminal'] else s['access_log_file']))
    lines += [('Control Script', os.path.join(s['server_root'], 'apachectl')),
              ('Operating Mode', 'embedded' if s['embedded_mode'] else 'daemon'),
              ('Request Capacity', '%d (%d process%s * %d threads)' % (
                  s['processes'] * s['threads'], s['processes'],
                  '' if s['processes'] == 1 else 'es', s['threads']))]
    if not s['embedded_mode']:
        lines += [('Request Timeout', '%d (seconds)' % s['request_timeout']),
                  ('Startup Timeout', '%d (seconds)' % s['startup_timeout']),
                  ('Queue Timeout', '%d (seconds)' % s['queue_timeout'])]
    return '\n'.join('%-19s: %s' % kv for kv in lines)

