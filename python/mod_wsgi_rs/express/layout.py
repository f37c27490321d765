"""From options to the facts the configuration is written from: where the
server root, logs and sockets are, which httpd and modules, which account,
which entry point. Everything is made absolute here, once."""

import os
import pwd
import grp
import shutil
import subprocess
import sys
import zlib

from .. import server
from .options import OptionError
from .server_root import own_directory


def _apxs(name):
    try:
        out = subprocess.run(['apxs', '-q', name], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def httpd_facts(opts):
    """httpd's path, its modules directory and mime.types: the options,
    else what the build recorded, else apxs, else Debian's places."""
    facts = server.build_facts()
    httpd = opts['httpd_executable'] or facts.get('httpd')
    if not httpd:
        sbin, target = _apxs('SBINDIR'), _apxs('TARGET')
        httpd = os.path.join(sbin, target) if sbin and target else None
    httpd = httpd or shutil.which('apache2') or shutil.which('httpd') \
        or '/usr/sbin/apache2'
    modules = opts['modules_directory'] or facts.get('modules_directory') \
        or _apxs('LIBEXECDIR') or '/usr/lib/apache2/modules'
    mime = opts['mime_types'] or facts.get('mime_types') or '/etc/mime.types'
    if not os.access(httpd, os.X_OK):
        raise OptionError('no Apache httpd at %s (install apache2, or give '
                          '--httpd-executable)' % httpd)
    if not os.path.isdir(modules):
        raise OptionError('no Apache modules directory at %s (give '
                          '--modules-directory)' % modules)
    return httpd, modules, mime


def _mpm(wanted, modules_directory):
    """Of the --server-mpm names, the first of event, worker, prefork whose
    module Apache has (event by default), as mod_wsgi-express picks; none
    there is an error here (6.1 writes a configuration with no MPM)."""
    wanted = wanted or ['event']
    for name in (n for n in ('event', 'worker', 'prefork') if n in wanted):
        if os.path.exists(os.path.join(modules_directory, 'mod_mpm_%s.so' % name)):
            return name
    raise OptionError('--server-mpm %s: no mod_mpm_%s.so in %s'
                      % (' '.join(wanted), '|'.join(wanted), modules_directory))


def _account(opts):
    """(user, group) for User/Group and the daemons; None when not root
    (Apache does not change account then)."""
    if os.getuid() != 0:
        return None, None
    user, group = opts['user'], opts['group']
    if not user or user in ('root', '#0'):
        raise OptionError('as root, --user (and --group) must name the '
                          'account that serves requests, not root')
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise OptionError('--user %s: no such user' % user) from None
    if not group:
        group = grp.getgrgid(entry.pw_gid).gr_name
    try:
        grp.getgrnam(group)
    except KeyError:
        raise OptionError('--group %s: no such group' % group) from None
    return user, group


def _entry(opts, server_root):
    """(entry point, type): an absolute file for scripts, a name for
    modules, the default page's script when none is given."""
    entry = opts['entry_point'] or opts['entry']
    kind = opts['application_type']
    if not entry:
        return os.path.join(server_root, 'default.wsgi'), 'script'
    if kind == 'module':
        if not all(p.isidentifier() for p in entry.split('.')):
            raise OptionError('%s is not a Python module name' % entry)
        return entry, kind
    path = os.path.abspath(entry)
    if not os.path.isfile(path):
        raise OptionError('no WSGI script file at %s' % path)
    return path, kind


def serving_gid(group):
    """The gid Apache's children and the daemons run with (None: this
    user's own, when not root)."""
    return grp.getgrnam(group).gr_gid if group else None


def _socket_prefix(opts, root, group):
    """Where the daemon sockets go: --socket-prefix, else the server root,
    else (a server root too deep for a socket's 108-byte path) a short
    directory of this server's own under /tmp, made and checked as the
    server root is (server_root.py)."""
    if opts['socket_prefix']:
        return os.path.join(os.path.abspath(opts['socket_prefix']), 'wsgi')
    prefix = os.path.join(root, 'wsgi')
    if len(prefix) <= 40:
        return prefix
    short = '/tmp/mod_wsgi_rs-%x-%d' % (zlib.crc32(root.encode()), os.getuid())
    own_directory(short, '--socket-prefix', serving_gid(group))
    return os.path.join(short, 'wsgi')


def _default_locale():
    """en_US.UTF-8, as mod_wsgi-express, where the machine has it; else
    C.UTF-8, which every glibc has (an absent locale makes Python fall
    back to ASCII-only behaviour in places)."""
    import locale
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, 'en_US.UTF-8')
        return 'en_US.UTF-8'
    except locale.Error:
        return 'C.UTF-8'
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


def resolve(opts):
    """The settings dict the configuration and scripts are written from."""
    s = dict(opts)
    s['listener_host'] = opts['host']
    s['host'] = opts['host'] or 'localhost'
    s['server_name_given'] = bool(opts['server_name'])
    s['server_name'] = opts['server_name'] or s['host']
    root = opts['server_root'] or '%s/mod_wsgi-%s:%s:%s' % (
        (os.environ.get('TMPDIR') or '/tmp').rstrip('/'), s['host'],
        opts['port'], os.getuid())
    s['server_root'] = root = os.path.abspath(root)
    s['entry_point'], s['application_type'] = _entry(opts, root)
    s['working_directory'] = os.path.abspath(
        opts['working_directory'] or os.getcwd())
    s['document_root'] = os.path.abspath(
        opts['document_root'] or os.path.join(root, 'htdocs'))
    s['log_directory'] = os.path.abspath(opts['log_directory'] or root)
    s['pid_file'] = os.path.abspath(
        opts['pid_file'] or os.path.join(root, 'httpd.pid'))
    s['error_log_file'] = os.path.join(s['log_directory'], opts['error_log_name'])
    s['access_log_file'] = os.path.join(s['log_directory'], opts['access_log_name'])
    s['user'], s['group'] = _account(opts)
    s['socket_prefix'] = _socket_prefix(opts, root, s['group'])
    s['python_eggs'] = os.path.abspath(
        opts['python_eggs'] or os.path.join(root, 'python-eggs'))
    s['process_group'] = opts['process_group'] or '%s:%s' % (
        s['host'], opts['port'])
    if len(s['socket_prefix']) + 20 + 2 * len(s['process_group']) > 104:
        raise OptionError('daemon socket paths under %s would be longer than '
                          'a UNIX socket allows: give a shorter '
                          '--socket-prefix' % s['socket_prefix'])
    s['display_name'] = opts['process_name'] or '(wsgi:%s)' % s['process_group']
    s['multiprocess'] = opts['processes'] is not None
    s['processes'] = opts['processes'] or 1
    s['httpd'], s['modules_directory'], s['mime_types'] = httpd_facts(opts)
    s['module'] = server.where()
    try:
        s['python_library'] = server.python_library()
    except server.NoPythonLibrary as e:
        raise OptionError(str(e)) from None
    s['python_home'] = sys.prefix
    s['python_executable'] = sys.executable
    s['mpm'] = _mpm(opts['server_mpm_variables'], s['modules_directory'])
    s['url_aliases'] = [(u, os.path.abspath(p))
                        for u, p in opts['url_aliases'] or []]
    s['python_paths'] = [os.path.abspath(p) for p in opts['python_paths'] or []]
    for key in ('ssl_certificate_file', 'ssl_certificate_key_file',
                'ssl_ca_certificate_file', 'ssl_certificate_chain_file',
                'ssl_certificate', 'rewrite_rules', 'envvars_script',
                'host_access_script', 'auth_user_script', 'auth_group_script'):
        if s[key]:
            s[key] = os.path.abspath(s[key])
    if s['ssl_certificate']:
        s['ssl_certificate_file'] = s['ssl_certificate'] + '.crt'
        s['ssl_certificate_key_file'] = s['ssl_certificate'] + '.key'
    s['include_files'] = [os.path.abspath(f) for f in opts['include_files'] or []]
    s['rewrite_rules'] = s['rewrite_rules'] or os.path.join(root, 'rewrite.conf')
    s['lang'] = opts['lang'] or opts['locale'] or _default_locale()
    s['locale'] = opts['locale'] or s['lang']
    return s
