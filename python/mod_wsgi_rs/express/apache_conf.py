"""httpd.conf for mod_wsgi-express: resolved settings in, Apache directives
out. Written fully resolved (no IfDefine switches), so what runs is what
the file says. Daemon mode unless --embedded-mode, as mod_wsgi-express."""


def q(value):
    """A directive argument in double quotes (Apache's quoting)."""
    return '"%s"' % str(value).replace('\\', '\\\\').replace('"', '\\"')


MODULES = ['unixd', 'authn_core', 'authz_core', 'authz_host', 'mime',
           'rewrite', 'alias', 'dir', 'env', 'headers', 'filter',
           'reqtimeout']


def _modules(s):
    names = ['mpm_' + s['mpm']] + MODULES
    if s['access_log']:
        names.append('log_config')
    if s['https_port']:
        names += ['socache_shmcb', 'ssl']
    if s['directory_listing']:
        names.append('autoindex')
    if s['compress_responses']:
        names.append('deflate')
    if s['server_status'] or s['server_metrics']:
        names.append('status')
    if s['auth_user_script']:
        names += ['auth_basic', 'auth_digest', 'authz_user']
    lines = ['<IfModule !%s_module>\nLoadModule %s_module %s\n</IfModule>'
             % (n, n, q('%s/mod_%s.so' % (s['modules_directory'], n)))
             for n in names]
    # The module is not linked to libpython (any installation of this
    # Python version will do): the one of the Python running this first.
    lines.append('LoadFile %s' % q(s['python_library']))
    lines.append('LoadModule wsgi_module %s' % q(s['module']))
    return lines


def _server(s):
    out = ['ServerRoot %s' % q(s['server_root']),
           'PidFile %s' % q(s['pid_file']),
           'DefaultRuntimeDir %s' % q(s['server_root']),
           'Mutex %s' % q('file:' + s['server_root']),
           'ServerName %s' % s['server_name'],
           'ServerTokens ProductOnly', 'ServerSignature Off',
           'HostnameLookups Off', 'TypesConfig %s' % q(s['mime_types'])]
    if s['user']:
        out += ['User %s' % s['user'], 'Group %s' % s['group']]
    host = s['listener_host']
    for port in [s['port']] + ([s['https_port']] if s['https_port'] else []):
        out.append('Listen %s' % ('%s:%s' % (host, port) if host else port))
    out += ['ListenBacklog %d' % s['server_backlog'],
            'Timeout %d' % s['socket_timeout'],
            'LimitRequestBody %d' % s['limit_request_body'],
            'RequestReadTimeout header=%d-%d,MinRate=%d body=%d%s,MinRate=%d'
            % (s['header_timeout'], s['header_max_timeout'],
               s['header_min_rate'], s['body_timeout'],
               '-%d' % s['body_max_timeout'] if s['body_max_timeout'] else '',
               s['body_min_rate'])]
    if s['keep_alive_timeout'] > 0:
        out += ['KeepAlive On', 'KeepAliveTimeout %d' % s['keep_alive_timeout']]
    else:
        out.append('KeepAlive Off')
    # A graceful stop (SIGTERM to start-server) waits for requests in
    # flight, but no longer than a request may run.
    out.append('GracefulShutdownTimeout %d'
               % (s['request_timeout'] + s['shutdown_timeout']))
    return out


def _capacity(s):
    """MPM sizing: at least 50 workers and twice the daemon threads, all
    started at once. mod_wsgi-express's tighter sizing (20) puts the event
    MPM within MinSpareThreads of its limit under a modest load, and it
    then closes keep-alive connections a client may be reusing (wrk saw
    read errors; none with this headroom)."""
    clients = s['max_clients'] or max(50, 2 * s['processes'] * s['threads'])
    # Keep-alive connections are never closed for their request count, and
    # children are not recycled (mod_wsgi-express's settings too).
    common = ['MaxKeepAliveRequests 0', 'MaxConnectionsPerChild 0']
    if s['mpm'] == 'prefork':
        return ['<IfModule mpm_prefork_module>', 'ServerLimit %d' % clients,
                'MaxRequestWorkers %d' % clients, 'StartServers 1',
                'MinSpareServers 1', 'MaxSpareServers 2'] + common + ['</IfModule>']
    threads = min(clients, 25)
    servers = -(-clients // threads)
    return ['<IfModule mpm_%s_module>' % s['mpm'],
            'ServerLimit %d' % servers, 'ThreadLimit %d' % threads,
            'ThreadsPerChild %d' % threads,
            'MaxRequestWorkers %d' % (servers * threads),
            'StartServers %d' % servers, 'MinSpareThreads %d' % threads,
            'MaxSpareThreads %d' % (servers * threads)] + common + ['</IfModule>']


def _logs(s):
    if s['log_to_terminal']:
        error, access = '/dev/stderr', '/dev/stdout'
    else:
        error, access = s['error_log_file'], s['access_log_file']
    out = ['ErrorLog %s' % q(error), 'LogLevel %s' % s['log_level']]
    if s['error_log_format']:
        out.append('ErrorLogFormat %s' % q(s['error_log_format']))
    if s['access_log']:
        fmt = s['access_log_format'] or 'common'
        if fmt not in ('common', 'combined'):
            out.append('LogFormat %s custom' % q(fmt))
            fmt = 'custom'
        out += ['LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
                'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" '
                '\\"%{User-agent}i\\"" combined',
                'CustomLog %s %s' % (q(access), fmt)]
    return out


def _python(s):
    out = ['WSGIPythonHome %s' % q(s['python_home']),
           'WSGISocketPrefix %s' % q(s['socket_prefix']),
           'WSGIPythonEggs %s' % q(s['python_eggs']),
           'WSGIDestroyInterpreter %s'
           % ('Off' if s['orphan_interpreter'] else 'On'),
           'WSGICallableObject %s' % q(s['callable_object']),
           'WSGIPassAuthorization On',
           'WSGIMapHEADToGET %s' % s['map_head_to_get'],
           'WSGIServerMetrics %s' % ('On' if s['server_metrics'] else 'Off')]
    if s['disable_reloading']:
        out.append('WSGIScriptReloading Off')
    if s['chunked_request']:
        out.append('WSGIChunkedRequest On')
    if s['enable_sendfile']:
        out += ['EnableSendfile On', 'WSGIEnableSendfile On']
    if s['switch_interval']:
        out.append('WSGISwitchInterval %s' % s['switch_interval'])
    if s['trusted_proxy_headers']:
        out.append('WSGITrustedProxyHeaders %s'
                   % ' '.join(s['trusted_proxy_headers']))
    if s['trusted_proxies']:
        out.append('WSGITrustedProxies %s' % ' '.join(s['trusted_proxies']))
    if s['embedded_mode']:
        if s['python_paths']:
            out.append('WSGIPythonPath %s' % q(':'.join(
                [s['working_directory']] + s['python_paths'])))
        return out
    out.append('WSGIRestrictEmbedded On')
    out.append(_daemon(s))
    return out


def _daemon(s):
    opts = [('display-name', s['display_name']),
            ('home', s['working_directory']),
            ('threads', s['threads'])]
    if s['multiprocess']:
        opts.append(('processes', s['processes']))
    if s['user']:
        opts += [('user', s['user']), ('group', s['group'])]
    if s['python_paths']:
        opts.append(('python-path', ':'.join(s['python_paths'])))
    opts += [('python-eggs', s['python_eggs']), ('lang', s['lang']),
             ('locale', s['locale'])]
    for key in ('maximum-requests', 'startup-timeout', 'shutdown-timeout',
                'graceful-timeout', 'restart-interval', 'cpu-time-limit',
                'eviction-timeout', 'deadlock-timeout', 'inactivity-timeout',
                'request-timeout', 'interrupt-timeout', 'connect-timeout',
                'socket-timeout', 'queue-timeout', 'send-buffer-size',
                'receive-buffer-size', 'header-buffer-size',
                'response-buffer-size', 'response-socket-timeout',
                'response-flush-delay'):
        opts.append((key, s[key.replace('-', '_')]))
    opts += [('listen-backlog', s['daemon_backlog']),
             ('server-metrics', 'On' if s['server_metrics'] else 'Off')]
    return 'WSGIDaemonProcess %s \\\n    %s' % (q(s['process_group']), ' \\\n    '.join(
        '%s=%s' % (k, q(v)) for k, v in opts))


def _content(s):
    group = '%{GLOBAL}' if s['embedded_mode'] else s['process_group']
    app_group = s['application_group'] or '%{GLOBAL}'
    handler = '%s/handler.wsgi' % s['server_root']
    out = ['DocumentRoot %s' % q(s['document_root']),
           '<Directory />', '    AllowOverride None', '    Require all denied',
           '</Directory>',
           '<Directory %s>' % q(s['server_root']),
           '    <Files handler.wsgi>', '        Require all granted',
           '    </Files>', '</Directory>',
           '<Directory %s>' % q(s['document_root']),
           '    AllowOverride %s' % (' '.join(s['allow_override'] or ['None'])),
           '    Require all granted']
    if s['directory_index']:
        out.append('    DirectoryIndex %s' % q(s['directory_index']))
    if s['directory_listing']:
        out.append('    Options +Indexes')
    # Files in the document root first; everything else to the app.
    out += ['    RewriteEngine On',
            '    Include %s' % q(s['rewrite_rules']),
            '    RewriteCond %{REQUEST_FILENAME} !-f']
    if s['directory_index'] or s['directory_listing']:
        out.append('    RewriteCond %{REQUEST_FILENAME} !-d')
    if s['server_status']:
        out.append('    RewriteCond %{REQUEST_URI} !^/server-status')
    out += ['    RewriteRule .* - [H=wsgi-handler]', '</Directory>',
            'WSGIHandlerScript wsgi-handler %s process-group=%s '
            'application-group=%s' % (q(handler), q(group), q(app_group)),
            'WSGIImportScript %s process-group=%s application-group=%s'
            % (q(handler), q(group), q(app_group))]
    for url, path in s['url_aliases']:
        out += ['Alias %s %s' % (q(url), q(path)),
                '<Directory %s>' % q(path), '    Require all granted',
                '</Directory>', '<Files %s>' % q(path.rsplit('/', 1)[-1]),
                '    Require all granted', '</Files>']
    for status, url in s['error_documents'] or []:
        out.append('ErrorDocument %s %s' % (status, q(url)))
    if s['error_override']:
        out.append('WSGIErrorOverride On')
    for key, value in s['setenv_variables'] or []:
        out.append('SetEnv %s %s' % (key, q(value)))
    for key in s['passenv_variables'] or []:
        out.append('PassEnv %s' % key)
    if s['compress_responses']:
        out += ['AddOutputFilterByType DEFLATE %s' % t for t in (
            'text/plain', 'text/html', 'text/xml', 'text/css',
            'text/javascript', 'application/xhtml+xml',
            'application/javascript', 'application/json')]
    if s['server_status']:
        out += ['ExtendedStatus On', '<Location /server-status>',
                '    SetHandler server-status', '    Require all denied',
                '    Require host localhost', '    Require ip 127.0.0.1 ::1',
                '</Location>']
    return out + _access(s)


def _access(s):
    out = []
    if s['host_access_script']:
        out += ['<Location />', '    WSGIAccessScript %s'
                % q(s['host_access_script']), '</Location>']
    if s['auth_user_script']:
        provider = 'AuthBasicProvider' if s['auth_type'] == 'Basic' \
            else 'AuthDigestProvider'
        out += ['<Location />', '    AuthType %s' % s['auth_type'],
                '    AuthName %s' % q('%s:%s' % (s['host'], s['port'])),
                '    %s wsgi' % provider,
                '    WSGIAuthUserScript %s' % q(s['auth_user_script'])]
        if s['auth_group_script']:
            out.append('    WSGIAuthGroupScript %s' % q(s['auth_group_script']))
        out += ['    <RequireAll>', '        Require valid-user']
        if s['auth_group_script']:
            out.append('        Require wsgi-group %s' % q(s['auth_group']))
        out += ['    </RequireAll>', '</Location>']
    return out


def _https(s):
    if not s['https_port']:
        return []
    out = ['<VirtualHost *:%d>' % s['https_port'],
           '    ServerName %s' % s['server_name'], '    SSLEngine On',
           '    SSLCertificateFile %s' % q(s['ssl_certificate_file']),
           '    SSLCertificateKeyFile %s' % q(s['ssl_certificate_key_file'])]
    if s['ssl_ca_certificate_file']:
        out.append('    SSLCACertificateFile %s' % q(s['ssl_ca_certificate_file']))
    if s['ssl_certificate_chain_file']:
        out.append('    SSLCertificateChainFile %s'
                   % q(s['ssl_certificate_chain_file']))
    return out + ['</VirtualHost>',
                  'SSLSessionCache "shmcb:%s/ssl_scache(512000)"' % s['server_root']]


def _vhosts(s):
    """A default virtual host on the port, so Apache knows the port it
    serves (SERVER_PORT). With --server-name, requests for other host
    names are refused (403), as mod_wsgi-express does; --allow-localhost
    lets localhost in too."""
    port = s['port']
    if not s['server_name_given']:
        return ['<VirtualHost _default_:%d>' % port, '</VirtualHost>']
    out = ['<VirtualHost _default_:%d>' % port, 'ServerName _wsgi_',
           '<Location />',
           '    Require host localhost' if s['allow_localhost']
           else '    Require all denied',
           '</Location>', '</VirtualHost>',
           '<VirtualHost *:%d>' % port, 'ServerName %s' % s['server_name']]
    out += ['ServerAlias %s' % a for a in s['server_aliases'] or []]
    return out + ['</VirtualHost>']


def render(s):
    """The whole httpd.conf."""
    parts = [['# Written by mod_wsgi-express (mod_wsgi-rs) for %s'
              % s['entry_point']], _modules(s), _server(s), _capacity(s),
             _logs(s), _python(s), _content(s), _vhosts(s), _https(s),
             ['Include %s' % q(f) for f in s['include_files']]]
    return '\n'.join(line for part in parts for line in part) + '\n'
