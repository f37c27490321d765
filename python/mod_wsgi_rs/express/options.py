"""The options of start-server and setup-server: mod_wsgi 6.1's names,
metavars and defaults. Options we do not support are still listed (so
--help shows every mod_wsgi-express option) and are refused by name when
given, never ignored."""

import argparse
import difflib
import re
import textwrap

#: (flags, argparse keywords) of every option that takes effect here.
SUPPORTED = [
    (['--application-type'], dict(default='script', metavar='TYPE',
        choices=['script', 'module'],
        help="'script' (a WSGI script file, the default) or 'module' "
             "(a Python module imported by name)")),
    (['--entry-point'], dict(metavar='FILE-PATH|MODULE',
        help='the WSGI script file or module, instead of the argument')),
    (['--callable-object'], dict(default='application', metavar='NAME',
        help="the WSGI application's name in the entry point (default "
             "'application')")),
    (['--application-group'], dict(metavar='NAME',
        help='the interpreter to run in (default %%{GLOBAL}, the main one)')),
    (['--process-group'], dict(metavar='NAME',
        help='the daemon process group name (default HOST:PORT)')),
    (['--host'], dict(metavar='IP-ADDRESS',
        help='the address to listen on (default: every address)')),
    (['--port'], dict(type=int, default=8000, metavar='NUMBER',
        help='the HTTP port (default 8000)')),
    (['--https-port', '--ssl-port'], dict(type=int, dest='https_port',
        metavar='NUMBER', help='also serve HTTPS on this port')),
    (['--ssl-certificate-file'], dict(metavar='FILE-PATH',
        help='the certificate for --https-port (PEM)')),
    (['--ssl-certificate-key-file'], dict(metavar='FILE-PATH',
        help='its private key (PEM)')),
    (['--ssl-certificate'], dict(metavar='FILE-PATH',
        help='FILE-PATH.crt and FILE-PATH.key at once')),
    (['--ssl-ca-certificate-file'], dict(metavar='FILE-PATH',
        help='CA certificates for client certificates (SSLCACertificateFile)')),
    (['--ssl-certificate-chain-file'], dict(metavar='FILE-PATH',
        help='intermediate certificates (SSLCertificateChainFile)')),
    (['--server-name'], dict(metavar='HOSTNAME',
        help='ServerName (default: localhost)')),
    (['--server-alias'], dict(action='append', dest='server_aliases',
        metavar='HOSTNAME', help='a ServerAlias (repeatable)')),
    (['--allow-localhost'], dict(action='store_true',
        help='with --server-name, also answer requests for localhost')),
    (['--processes'], dict(type=int, metavar='NUMBER',
        help='daemon processes (default 1; giving it sets wsgi.multiprocess)')),
    (['--threads'], dict(type=int, default=5, metavar='NUMBER',
        help='threads per daemon process (default 5)')),
    (['--max-clients'], dict(type=int, metavar='NUMBER',
        help="Apache's MaxRequestWorkers (default: from processes x threads)")),
    (['--limit-request-body'], dict(type=int, default=10485760,
        metavar='NUMBER', help='LimitRequestBody in bytes (default 10485760)')),
    (['--maximum-requests'], dict(type=int, default=0, metavar='NUMBER',
        help='recycle a daemon process after this many requests (0: never)')),
    (['--startup-timeout'], dict(type=int, default=15, metavar='SECONDS',
        help='a daemon that cannot load the app in this time restarts '
             '(default 15)')),
    (['--shutdown-timeout'], dict(type=int, default=5, metavar='SECONDS',
        help='how long a stopping daemon waits for requests (default 5)')),
    (['--graceful-timeout'], dict(type=int, default=15, metavar='SECONDS',
        help='how long a recycling daemon drains (default 15)')),
    (['--restart-interval'], dict(type=int, default=0, metavar='SECONDS')),
    (['--cpu-time-limit'], dict(type=int, default=0, metavar='SECONDS')),
    (['--eviction-timeout'], dict(type=int, default=0, metavar='SECONDS')),
    (['--deadlock-timeout'], dict(type=int, default=60, metavar='SECONDS')),
    (['--inactivity-timeout'], dict(type=int, default=0, metavar='SECONDS')),
    (['--request-timeout'], dict(type=int, default=60, metavar='SECONDS',
        help='a request running longer restarts its daemon (default 60)')),
    (['--interrupt-timeout'], dict(type=int, default=0, metavar='SECONDS')),
    (['--connect-timeout'], dict(type=int, default=15, metavar='SECONDS')),
    (['--socket-timeout'], dict(type=int, default=60, metavar='SECONDS')),
    (['--queue-timeout'], dict(type=int, default=45, metavar='SECONDS',
        help='a request that waited longer for a daemon thread gets 503 '
             '(default 45)')),
    (['--header-timeout'], dict(type=int, default=15, metavar='SECONDS')),
    (['--header-max-timeout'], dict(type=int, default=30, metavar='SECONDS')),
    (['--header-min-rate'], dict(type=int, default=500, metavar='BYTES')),
    (['--body-timeout'], dict(type=int, default=15, metavar='SECONDS')),
    (['--body-max-timeout'], dict(type=int, default=0, metavar='SECONDS')),
    (['--body-min-rate'], dict(type=int, default=500, metavar='BYTES')),
    (['--server-backlog'], dict(type=int, default=500, metavar='NUMBER')),
    (['--daemon-backlog'], dict(type=int, default=100, metavar='NUMBER')),
    (['--send-buffer-size'], dict(type=int, default=0, metavar='NUMBER')),
    (['--receive-buffer-size'], dict(type=int, default=0, metavar='NUMBER')),
    (['--header-buffer-size'], dict(type=int, default=0, metavar='NUMBER')),
    (['--response-buffer-size'], dict(type=int, default=0, metavar='NUMBER')),
    (['--response-socket-timeout'], dict(type=int, default=0,
        metavar='SECONDS')),
    (['--response-flush-delay'], dict(type=int, default=5,
        metavar='MILLISECONDS')),
    (['--keep-alive-timeout'], dict(type=int, default=2, metavar='SECONDS',
        help='KeepAliveTimeout; 0 turns keep-alive off (default 2)')),
    (['--enable-sendfile'], dict(action='store_true')),
    (['--disable-reloading'], dict(action='store_true',
        help='never load the entry point again when it changes')),
    (['--reload-on-changes'], dict(action='store_true',
        help='restart the daemon when any loaded Python file changes')),
    (['--user'], dict(metavar='USERNAME',
        help='the account the server and daemons run as (needed as root)')),
    (['--group'], dict(metavar='GROUP')),
    (['--map-head-to-get'], dict(default='Auto', metavar='OFF|ON|AUTO')),
    (['--document-root'], dict(metavar='DIRECTORY-PATH',
        help='files here are served by Apache before the app is asked')),
    (['--directory-index'], dict(metavar='FILE-NAME')),
    (['--directory-listing'], dict(action='store_true')),
    (['--allow-override'], dict(action='append', metavar='DIRECTIVE-TYPE')),
    (['--mount-point'], dict(default='/', metavar='URL-PATH',
        help="the app's URL prefix (default /)")),
    (['--url-alias'], dict(action='append', nargs=2, dest='url_aliases',
        metavar=('URL-PATH', 'FILE-PATH|DIRECTORY-PATH'),
        help='serve a file or directory at a URL (repeatable)')),
    (['--error-document'], dict(action='append', nargs=2,
        dest='error_documents', metavar=('STATUS', 'URL-PATH'))),
    (['--error-override'], dict(action='store_true')),
    (['--trust-proxy-header'], dict(action='append', default=[],
        dest='trusted_proxy_headers', metavar='HEADER-NAME')),
    (['--trust-proxy'], dict(action='append', default=[],
        dest='trusted_proxies', metavar='IP-ADDRESS/SUBNET')),
    (['--compress-responses'], dict(action='store_true')),
    (['--server-metrics'], dict(action='store_true')),
    (['--server-status'], dict(action='store_true')),
    (['--host-access-script'], dict(metavar='SCRIPT-PATH')),
    (['--auth-user-script'], dict(metavar='SCRIPT-PATH')),
    (['--auth-type'], dict(default='Basic', metavar='TYPE',
        choices=['Basic', 'Digest'])),
    (['--auth-group-script'], dict(metavar='SCRIPT-PATH')),
    (['--auth-group'], dict(default='wsgi', metavar='NAME')),
    (['--include-file'], dict(action='append', dest='include_files',
        metavar='FILE-PATH', help='Include this file at the end of httpd.conf')),
    (['--rewrite-rules'], dict(metavar='FILE-PATH')),
    (['--envvars-script'], dict(metavar='FILE-PATH')),
    (['--lang'], dict(metavar='NAME')),
    (['--locale'], dict(metavar='NAME')),
    (['--setenv'], dict(action='append', nargs=2, dest='setenv_variables',
        metavar=('KEY', 'VALUE'), help='set a WSGI environ key (repeatable)')),
    (['--passenv'], dict(action='append', dest='passenv_variables',
        metavar='KEY', help="pass a variable of this command's environment "
        'to the WSGI environ (repeatable)')),
    (['--working-directory'], dict(metavar='DIRECTORY-PATH',
        help="the daemons' current directory, first on sys.path "
             '(default: the current directory)')),
    (['--pid-file'], dict(metavar='FILE-PATH')),
    (['--server-root'], dict(metavar='DIRECTORY-PATH',
        help='where the configuration is written (default '
             '/tmp/mod_wsgi-HOST:PORT:UID)')),
    (['--server-mpm'], dict(action='append', dest='server_mpm_variables',
        metavar='NAME', choices=['event', 'worker', 'prefork'])),
    (['--log-directory'], dict(metavar='DIRECTORY-PATH')),
    (['--log-level'], dict(default='warn', metavar='NAME')),
    (['--access-log'], dict(action='store_true')),
    (['--log-to-terminal'], dict(action='store_true',
        help='the error log to stderr and the access log to stdout')),
    (['--access-log-format'], dict(metavar='FORMAT')),
    (['--error-log-format'], dict(metavar='FORMAT')),
    (['--error-log-name'], dict(default='error_log', metavar='FILE-NAME')),
    (['--access-log-name'], dict(default='access_log', metavar='FILE-NAME')),
    (['--python-path'], dict(action='append', dest='python_paths',
        metavar='DIRECTORY-PATH', help='add to sys.path (repeatable)')),
    (['--python-eggs'], dict(metavar='DIRECTORY-PATH')),
    (['--httpd-executable'], dict(metavar='FILE-PATH')),
    (['--modules-directory'], dict(metavar='DIRECTORY-PATH')),
    (['--mime-types'], dict(metavar='FILE-PATH')),
    (['--process-name'], dict(metavar='NAME')),
    (['--socket-prefix'], dict(metavar='DIRECTORY-PATH')),
    (['--chunked-request'], dict(action='store_true')),
    (['--switch-interval'], dict(type=float, metavar='SECONDS')),
    (['--orphan-interpreter'], dict(action='store_true',
        help='WSGIDestroyInterpreter Off')),
    (['--embedded-mode'], dict(action='store_true',
        help="run the app in Apache's children, not in daemons")),
    (['--setup-only'], dict(action='store_true')),
]

#: The help of the options whose entries above carry none (kept apart so
#: the table stays readable); every supported option has one.
HELP = {
    '--restart-interval': 'restart each daemon process after this long '
                          '(0: never)',
    '--cpu-time-limit': 'restart a daemon process once it has used this '
                        'much CPU time (0: no limit)',
    '--eviction-timeout': 'how long a daemon drains when sent SIGUSR1 '
                          '(0: --graceful-timeout)',
    '--deadlock-timeout': 'restart a daemon whose Python holds the GIL this '
                          'long without letting go (default 60)',
    '--inactivity-timeout': 'restart a daemon after this long without a '
                            'request (0: never)',
    '--interrupt-timeout': 'raise an exception in a request running longer '
                           'than this before restarting (0: off)',
    '--connect-timeout': 'how long Apache tries to reach a daemon before '
                         'answering 503 (default 15)',
    '--socket-timeout': 'how long Apache waits on a daemon socket read or '
                        'write (default 60)',
    '--header-timeout': "mod_reqtimeout: seconds for the request's headers "
                        '(default 15)',
    '--header-max-timeout': 'mod_reqtimeout: the most the header timeout '
                            'grows to with data arriving (default 30)',
    '--header-min-rate': 'mod_reqtimeout: bytes per second that extend the '
                         'header timeout (default 500)',
    '--body-timeout': "mod_reqtimeout: seconds for the request body's first "
                      'bytes (default 15)',
    '--body-max-timeout': 'mod_reqtimeout: the most the body timeout grows '
                          'to (0: no limit)',
    '--body-min-rate': 'mod_reqtimeout: bytes per second that extend the '
                       'body timeout (default 500)',
    '--server-backlog': "ListenBacklog: Apache's listen queue (default 500)",
    '--daemon-backlog': "the daemon socket's listen queue (default 100)",
    '--send-buffer-size': 'daemon socket send buffer in bytes (0: the '
                          "system's)",
    '--receive-buffer-size': 'daemon socket receive buffer in bytes (0: '
                             "the system's)",
    '--header-buffer-size': "the most bytes of a daemon response's headers "
                            '(0: no limit beyond the frame)',
    '--response-buffer-size': 'how much of a daemon response Apache reads '
                              'ahead (0: the default)',
    '--response-socket-timeout': 'how long a daemon waits to hand its '
                                 'response to Apache (0: --socket-timeout)',
    '--response-flush-delay': 'accepted for compatibility (responses are '
                              'streamed as written)',
    '--enable-sendfile': 'EnableSendfile On: files from wsgi.file_wrapper '
                         'go out with sendfile(2)',
    '--group': 'the group the server and daemons run as (default: the '
               "--user's)",
    '--map-head-to-get': 'WSGIMapHEADToGET: show HEAD requests to the app '
                         'as GET (default Auto)',
    '--directory-index': 'DirectoryIndex for the document root',
    '--directory-listing': 'list directories of the document root that '
                           'have no index',
    '--allow-override': 'AllowOverride for the document root (repeatable)',
    '--error-document': 'ErrorDocument STATUS URL-PATH (repeatable)',
    '--error-override': "WSGIErrorOverride On: Apache's error pages replace "
                        "the app's 4xx/5xx",
    '--trust-proxy-header': 'a header from trusted proxies to believe, e.g. '
                            'X-Forwarded-For (repeatable)',
    '--trust-proxy': 'a proxy whose headers are believed (repeatable)',
    '--compress-responses': 'gzip text responses (mod_deflate)',
    '--server-metrics': "WSGIServerMetrics On: apps may read Apache's "
                        'scoreboard (mod_wsgi.server_metrics())',
    '--server-status': "mod_status's /server-status, for localhost only",
    '--host-access-script': 'WSGIAccessScript: a script that allows or '
                            'denies each client',
    '--auth-user-script': 'WSGIAuthUserScript: a script that checks '
                          'passwords (Basic or Digest)',
    '--auth-type': "'Basic' (default) or 'Digest', with --auth-user-script",
    '--auth-group-script': 'WSGIAuthGroupScript: the groups a user is in',
    '--auth-group': 'the group --auth-group-script must place a user in '
                    "(default 'wsgi')",
    '--rewrite-rules': 'a file of RewriteRules for the document root '
                       '(default: SERVER-ROOT/rewrite.conf)',
    '--envvars-script': 'a shell script apachectl sources after envvars',
    '--lang': 'LANG for the server and daemons (default en_US.UTF-8 where '
              'installed, else C.UTF-8)',
    '--locale': 'LC_ALL for the server and daemons (default: --lang)',
    '--pid-file': "Apache's pid file (default SERVER-ROOT/httpd.pid)",
    '--server-mpm': "Apache's MPM: event (default), worker or prefork",
    '--log-directory': 'where the logs go (default: the server root)',
    '--log-level': "Apache's LogLevel (default warn)",
    '--access-log': 'write an access log',
    '--access-log-format': "the access log's format: common (default), "
                           'combined, or a LogFormat string',
    '--error-log-format': "Apache's ErrorLogFormat",
    '--error-log-name': "the error log's file name (default error_log)",
    '--access-log-name': "the access log's file name (default access_log)",
    '--python-eggs': 'where Python egg caches go (default '
                     'SERVER-ROOT/python-eggs)',
    '--httpd-executable': "Apache's httpd (default: found with apxs)",
    '--modules-directory': "Apache's modules directory (default: found "
                           'with apxs)',
    '--mime-types': 'the mime.types file (default /etc/mime.types)',
    '--process-name': "the daemons' name in ps (default (wsgi:GROUP))",
    '--socket-prefix': 'a directory for the daemon sockets (default: the '
                       'server root)',
    '--chunked-request': 'WSGIChunkedRequest On: accept chunked request '
                         'bodies',
    '--switch-interval': "Python's thread switch interval "
                         '(sys.setswitchinterval)',
    '--setup-only': 'with start-server: write the server root and stop',
}

#: What to do instead of a refused option, by option (see REFUSED).
INSTEAD = {
    '--include-file with the directives of mod_http2, mod_ssl or '
    'mod_headers': ['--http2', '--ssl-verify-client', '--ssl-environment',
                    '--https-only', '--hsts-policy'],
    '--max-clients (every worker starts at once)': [
        '--initial-workers', '--minimum-spare-workers',
        '--maximum-spare-workers'],
    '--include-file with mod_proxy directives': [
        '--proxy-timeout', '--proxy-mount-point', '--proxy-url-alias',
        '--proxy-virtual-host'],
    '--include-file with WSGITelemetryService and WSGISlowRequests': [
        '--telemetry-service', '--enable-telemetry', '--telemetry-ui-port',
        '--telemetry-interval', '--telemetry-options', '--slow-requests'],
    '--log-level info (start-up is logged to the error log)': [
        '--startup-log', '--startup-log-name', '--verbose-debugging'],
    '--log-to-terminal and the rotation of whatever collects it '
    '(journald, logrotate, your container runtime)': [
        '--rotate-logs', '--max-log-size', '--rotatelogs-executable'],
    'PYTHONWARNINGS in --envvars-script': ['--python-warnings'],
    '--include-file with AddHandler, mod_php or mod_cgi directives': [
        '--add-handler', '--with-php5', '--with-cgi'],
}

#: mod_wsgi-express options that do not take effect here, with how many
#: values each takes: given, they are an error naming them.
REFUSED = {
    '--http2': 0, '--ssl-verify-client': 1, '--ssl-environment': 0,
    '--https-only': 0, '--hsts-policy': 1,
    '--initial-workers': 1, '--minimum-spare-workers': 1,
    '--maximum-spare-workers': 1, '--ignore-activity': 1,
    '--proxy-timeout': 1, '--proxy-mount-point': 2, '--proxy-url-alias': 2,
    '--proxy-virtual-host': 2, '--telemetry-service': 1,
    '--enable-telemetry': 0, '--telemetry-ui-port': 1,
    '--telemetry-interval': 1, '--telemetry-options': 1,
    '--slow-requests': 1, '--free-threading': 0, '--startup-log': 0,
    '--verbose-debugging': 0, '--startup-log-name': 1, '--rotate-logs': 0,
    '--max-log-size': 1, '--rotatelogs-executable': 1,
    '--python-warnings': 1, '--shell-executable': 1, '--add-handler': 2,
    '--with-php5': 0, '--with-cgi': 0, '--service-script': 2,
    '--service-user': 2, '--service-group': 2, '--service-log-file': 2,
    '--enable-docs': 0, '--debug-mode': 0, '--enable-debugger': 0,
    '--debugger-startup': 0, '--enable-coverage': 0,
    '--coverage-directory': 1, '--enable-profiler': 0,
    '--profiler-directory': 1, '--enable-recorder': 0,
    '--recorder-directory': 1, '--enable-gdb': 0, '--gdb-executable': 1,
    '--isatty': 0,
}


class OptionError(Exception):
    """A bad command line: the message names the option."""


def instead_of(flag):
    """What to do instead of a refused option (None: nothing here does)."""
    return next((alt for alt, flags in INSTEAD.items() if flag in flags), None)


class _Parser(argparse.ArgumentParser):
    # One line naming the problem, exit status 2, as a script expects; an
    # unknown option gets the nearest known name.
    def error(self, message):
        unknown = message.split('unrecognized arguments: ', 1)[1:]
        words = unknown[0].split() if unknown else []
        if words and words[0].startswith('--'):
            known = [f for a in self._actions for f in a.option_strings
                     if a.help is not argparse.SUPPRESS]
            near = difflib.get_close_matches(words[0].split('=')[0], known,
                                             1, 0.75)
            if near:
                message += ' (did you mean %s?)' % near[0]
        raise OptionError(message)


class _Refuse(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        alt = instead_of(option_string)
        raise OptionError('%s is an option of mod_wsgi-express that '
                          'mod_wsgi-rs does not support%s' % (
                              option_string,
                              '; instead: %s' % alt if alt else ''))


EXAMPLES = """examples:
  mod_wsgi-express %(cmd)s app.wsgi --port 8000
  mod_wsgi-express %(cmd)s --application-type module mysite.wsgi \\
      --working-directory /srv/mysite --url-alias /static /srv/mysite/static
  sudo mod_wsgi-express %(cmd)s app.wsgi --port 80 --user www-data \\
      --processes 2 --threads 8 --access-log
"""


def _refused_text():
    """The refused options, compactly, with what to do instead."""
    lines = ['options of mod_wsgi-express refused here (an error if given):']
    listed = set()
    wrap = textwrap.TextWrapper(width=78, initial_indent='  ',
                                subsequent_indent='  ',
                                break_on_hyphens=False)
    for alt, flags in INSTEAD.items():
        lines += wrap.wrap(', '.join(flags))
        lines += textwrap.wrap('instead: ' + alt, width=78,
                               initial_indent='      ',
                               subsequent_indent='      ')
        listed.update(flags)
    lines += wrap.wrap(', '.join(sorted(f for f in REFUSED if f not in listed)))
    lines.append('      (nothing here takes their place)')
    return '\n'.join(lines)


def version():
    """What --version prints."""
    import sys
    from .. import __version__
    return 'mod_wsgi-express (mod_wsgi-rs %s) for Python %d.%d' % (
        (__version__,) + sys.version_info[:2])


def parser(command):
    """The parser of `mod_wsgi-express COMMAND [script] [options]`."""
    p = _Parser(prog='mod_wsgi-express %s' % command,
                usage='%(prog)s [script] [options]',
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog='%s\n\n%s' % (_refused_text(),
                                    EXAMPLES % {'cmd': command}))
    p.add_argument('entry', nargs='?', metavar='script',
                   help='the WSGI script file or module')
    p.add_argument('--version', action='version', version=version())
    for flags, kwargs in SUPPORTED:
        kwargs = dict(kwargs)
        kwargs.setdefault('help', HELP.get(flags[0]))
        p.add_argument(*flags, **kwargs)
    for flag, nargs in sorted(REFUSED.items()):
        p.add_argument(flag, action=_Refuse, nargs=nargs or 0,
                       help=argparse.SUPPRESS)
    return p


def parse(command, argv):
    """The options as a dict (the keys are the options' dest names)."""
    opts = vars(parser(command).parse_args(argv))
    check(opts)
    return opts


#: Values written into httpd.conf unquoted must be one word of these.
_HOST = re.compile(r'^[A-Za-z0-9._*?:\[\]-]+$')
_ENV_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')
_WORD = re.compile(r'^[A-Za-z0-9_=,.:-]+$')


def _flag(dest):
    """The option's name on the command line, from its dest."""
    for flags, kwargs in SUPPORTED:
        if kwargs.get('dest', flags[0][2:].replace('-', '_')) == dest:
            return flags[0]
    return dest


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def check_written_values(opts):
    """Every value ends up in httpd.conf, apachectl or envvars: none may
    carry a line break, NUL, other control character or double quote (a
    second directive or shell command smuggled in), and the values written
    as bare words must be one word of their kind."""
    for dest, value in opts.items():
        for v in _strings(value):
            if any(c == '"' or ord(c) < 32 or ord(c) == 127 for c in v):
                raise OptionError('%s %r: a value may not contain a line '
                                  'break, control character or double quote'
                                  % (_flag(dest), v))
    for dest in ('host', 'server_name', 'server_aliases'):
        for v in _strings(opts.get(dest)):
            if not _HOST.match(v):
                raise OptionError('%s %s is not a host name or address'
                                  % (_flag(dest), v))
    names = [k for k, _ in opts.get('setenv_variables') or []]
    for v in names + list(opts.get('passenv_variables') or []):
        if not _ENV_NAME.match(v):
            raise OptionError('%s is not a variable name (--setenv, '
                              '--passenv)' % v)
    for dest in ('allow_override', 'trusted_proxy_headers', 'trusted_proxies',
                 'user', 'group', 'log_level', 'auth_group'):
        for v in _strings(opts.get(dest)):
            # LogLevel alone takes several words ("info ssl:warn").
            words = v.split(' ') if dest == 'log_level' else [v]
            if not all(_WORD.match(w) for w in words):
                raise OptionError('%s %s: not a word of letters, digits '
                                  'and _=,.:-' % (_flag(dest), v))
    for status, _ in opts.get('error_documents') or []:
        if not (status.isdigit() and len(status) == 3):
            raise OptionError('--error-document %s: not an HTTP status code'
                              % status)


def check(opts):
    """What argparse cannot check: values that must make sense together."""
    check_written_values(opts)
    for name in ('port', 'https_port'):
        v = opts.get(name)
        if v is not None and not 0 < v < 65536:
            raise OptionError('--%s %d is not a port number'
                              % (name.replace('_', '-'), v))
    for name in ('processes', 'threads'):
        v = opts.get(name)
        if v is not None and v < 1:
            raise OptionError('--%s must be at least 1, not %d' % (name, v))
    if not opts['mount_point'].startswith('/'):
        raise OptionError('--mount-point %s must start with /'
                          % opts['mount_point'])
    tls = [opts[k] for k in ('ssl_certificate_file', 'ssl_certificate_key_file',
                              'ssl_certificate')]
    if any(tls) and not opts['https_port']:
        raise OptionError('--https-port must be given with the SSL '
                          'certificate options')
    if opts['https_port'] and not (opts['ssl_certificate'] or (
            opts['ssl_certificate_file'] and opts['ssl_certificate_key_file'])):
        raise OptionError('--https-port needs --ssl-certificate-file and '
                          '--ssl-certificate-key-file (or --ssl-certificate)')
    if opts['https_port'] is not None and opts['https_port'] == opts['port']:
        raise OptionError('--https-port must differ from --port')
    if opts.get('map_head_to_get', 'Auto').lower() not in ('on', 'off', 'auto'):
        raise OptionError('--map-head-to-get takes On, Off or Auto, not %s'
                          % opts['map_head_to_get'])
