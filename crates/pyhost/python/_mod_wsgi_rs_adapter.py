"""mod_wsgi-rs's WSGI adapter for one interpreter (private): loading
scripts, the environ's objects (wsgi.input, wsgi.errors, wsgi.file_wrapper),
start_response and the response rules of PEP 3333, and the request events.
The public API is the `mod_wsgi` module."""

import os
import stat
import sys
import threading
import types

try:
    # The small built-in md5: hashlib would load OpenSSL into every
    # interpreter (about 4 MB each) just to name script modules.
    from _md5 import md5 as _md5
except ImportError:
    from hashlib import md5 as _md5

import _mod_wsgi_rs as _host
from mod_wsgi import (_ERR, _INFO, _WARNING, _format_exception, _publish, _request,
                      active_requests, event_callbacks)

class _Log:
    """A text stream whose complete lines go to Apache's error log.
    Used for wsgi.errors (with the request's id) and for sys.stdout/stderr."""

    encoding = 'utf-8'
    errors = 'backslashreplace'
    closed = False

    def __init__(self, handle=None, level=_ERR, name='wsgi.errors'):
        self._handle = handle
        self._level = level
        self._pending = ''
        self.name = name

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError('write() argument must be str, not %s' % type(text).__name__)
        lines = (self._pending + text).split('\n')
        self._pending = lines.pop()
        for line in lines:
            _host.log(self._handle, self._level, line)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._pending:
            pending, self._pending = self._pending, ''
            _host.log(self._handle, self._level, pending)

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def close(self):
        self.flush()


class _Restricted:
    """Stands in for sys.stdin / sys.stdout under WSGIRestrictStdin/Stdout."""

    def __init__(self, name, directive):
        self.name = name
        self._why = ('%s access restricted by mod_wsgi-rs (%s On); '
                     'use wsgi.input / wsgi.errors instead' % (name, directive))

    def __getattr__(self, attr):
        raise OSError(self._why)


class Input:
    """wsgi.input: the request body, read on demand from Apache. Ends at the
    end of the body (wsgi.input_terminated), chunked bodies included."""

    def __init__(self, handle):
        self._handle = handle
        self._buffer = bytearray()
        self._eof = False

    def _fill(self, want):
        if self._eof:
            return False
        chunk = _host.read(self._handle, max(want, 8192))
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            if not self._buffer:
                data = b'' if self._eof else _host.read(self._handle, -1)
                self._eof = True
                return data
            while self._fill(1 << 16):
                pass
            size = len(self._buffer)
        elif not self._buffer and not self._eof:
            data = _host.read(self._handle, size) if size else b''
            if size and not data:
                self._eof = True
            return data
        while len(self._buffer) < size and self._fill(size - len(self._buffer)):
            pass
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size=-1):
        limited = size is not None and size >= 0
        start = 0
        while True:
            newline = self._buffer.find(b'\n', start)
            if newline >= 0:
                end = newline + 1
                break
            if limited and len(self._buffer) >= size:
                end = size
                break
            start = len(self._buffer)
            if not self._fill(8192):
                end = len(self._buffer)
                break
        if limited:
            end = min(end, size)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass


class FileWrapper:
    """wsgi.file_wrapper. When the wrapped object is a real file, the host
    hands it to Apache as a file (sendfile) instead of iterating it."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


_scripts = {}
_scripts_lock = threading.Lock()


def _load_script(path, reload, mtime=None, force=False):
    """Imports a WSGI script file as a module named after its path, as
    mod_wsgi does; with script reloading on, a changed file is loaded anew.
    `mtime` is the file's modification time when the caller already knows
    it (Apache stat()s the script while mapping the URL); `force` loads it
    again whatever its time (the script's reload_required() asked)."""
    cached = _scripts.get(path)
    if cached is not None and not force and (not reload or cached[0] == mtime):
        return cached[1]
    with _scripts_lock:
        if mtime is None:
            # Microsecond precision, like Apache's, so a later request
            # does not see a "changed" file and load it twice.
            mtime = os.stat(path).st_mtime_ns // 1000 * 1000
        cached = _scripts.get(path)
        if cached is not None and not force and (not reload or cached[0] == mtime):
            return cached[1]
        name = '_mod_wsgi_' + _md5(path.encode('utf-8')).hexdigest()
        module = types.ModuleType(name)
        module.__file__ = path
        try:
            with open(path, 'rb') as f:
                code = compile(f.read(), path, 'exec', dont_inherit=True)
            sys.modules[name] = module
            exec(code, module.__dict__)
        except BaseException:
            sys.modules.pop(name, None)
            _scripts.pop(path, None)
            _host.script_loaded(False)
            raise
        _scripts[path] = (mtime, module)
        _host.script_loaded(True)
        return module


class _Response:
    """start_response and write() for one request (PEP 3333 rules)."""

    __slots__ = ('handle', 'started', 'sent')

    def __init__(self, handle):
        self.handle = handle
        self.started = False
        self.sent = False

    def start_response(self, status, response_headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.started:
            raise RuntimeError('start_response() was already called; a second call '
                               'must pass exc_info (PEP 3333)')
        if type(status) is not str:
            raise TypeError('status must be str, not %s' % type(status).__name__)
        if type(response_headers) is not list:
            raise TypeError('response headers must be a list, not %s'
                            % type(response_headers).__name__)
        _host.start_response(self.handle, status, response_headers)
        self.started = True
        return self.write

    def write(self, data):
        if not self.started:
            raise RuntimeError('the application sent response data without calling start_response()')
        if type(data) is not bytes:
            if not isinstance(data, bytes):
                raise TypeError('response body items must be bytes, not %s'
                                % type(data).__name__)
            data = bytes(data)
        if data:
            self.sent = True
            _host.write(self.handle, data)

    def write_last(self, data):
        """The only body item of a one-item list: sent with the head and
        the end of the response in one go."""
        if type(data) is not bytes:
            if not isinstance(data, bytes):
                raise TypeError('response body items must be bytes, not %s'
                                % type(data).__name__)
            data = bytes(data)
        self.sent = True
        _host.finish(self.handle, data)


def _send_file(wrapper, handle):
    """Sends a FileWrapper around a regular file as a file; False if it is
    not one (then the caller iterates it)."""
    filelike = wrapper.filelike
    try:
        fd = filelike.fileno()
        info = os.fstat(fd)
        position = filelike.tell()
    except Exception:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    if hasattr(filelike, 'flush'):
        filelike.flush()
    return _host.sendfile(handle, fd, position, max(info.st_size - position, 0))


def _run(script, mtime, callable_name, reload, sendfile, environ, handle):
    """Runs the WSGI application for one request."""
    # In a daemon, the Apache child that took the request (private: the
    # application never sees the key).
    server_pid = environ.pop('mod_wsgi.rs.server_pid', None)
    # mod_wsgi 6's server_pid: the Apache child's (the host gives the
    # times as float seconds, application_start and thread_id).
    environ['mod_wsgi.server_pid'] = str(server_pid or _pid)
    module = _load_script(script, reload, mtime)
    if reload:
        # mod_wsgi's hook for scripts that know better than the file's
        # time (a handler script serving other files, as express's does).
        # (From the module's dict: a failed getattr formats an
        # AttributeError, a fifth of a hello-world request's cost.)
        check = module.__dict__.get('reload_required')
        if callable(check) and check(environ.get('SCRIPT_FILENAME', script)):
            module = _load_script(script, reload, mtime, force=True)
    application = getattr(module, callable_name, None)
    if application is None:
        raise LookupError("target WSGI script '%s' does not contain WSGI application '%s'"
                          % (script, callable_name))
    if not event_callbacks:
        data = _request.data = {}
        request_id = environ.get('mod_wsgi.request_id')
        active_requests[request_id] = data
        try:
            return _respond(application, environ, handle, sendfile, _Response(handle))
        finally:
            _request.data = None
            active_requests.pop(request_id, None)
    return _run_with_events(application, environ, handle, sendfile, server_pid)


def _respond(application, environ, handle, sendfile, response):
    result = application(environ, response.start_response)
    try:
        if type(result) is list and len(result) == 1 and response.started:
            # The common case: the whole body known up front.
            response.write_last(result[0])
            return
        if not (sendfile and type(result) is FileWrapper and response.started
                and _send_file(result, handle)):
            write = response.write
            for data in result:
                write(data)
        if not response.started:
            raise RuntimeError('the application returned without calling start_response()')
        _host.finish(handle)
    finally:
        close = getattr(result, 'close', None)
        if close is not None:
            close()
        environ['wsgi.errors'].flush()


class _EventResponse(_Response):
    __slots__ = ('request_id',)

    def start_response(self, status, response_headers, exc_info=None):
        write = _Response.start_response(self, status, response_headers, exc_info)
        _publish('response_started', self.handle, request_id=self.request_id,
                 thread_id=threading.get_ident(), response_status=status,
                 response_headers=response_headers, exc_info=exc_info)
        return write


def _run_with_events(application, environ, handle, sendfile, server_pid):
    import resource
    import time
    request_id = environ.get('mod_wsgi.request_id')
    thread_id = threading.get_ident()
    data = _request.data = {}
    active_requests[request_id] = data
    request_start = environ['mod_wsgi.request_start']
    server_pid = int(server_pid or os.getpid())
    # Daemon mode only (0 in embedded mode, as with mod_wsgi): when the
    # relay began, when the daemon took the request, connects and retries.
    timing = {key: environ['mod_wsgi.' + key] for key in ('queue_start', 'daemon_start')}
    try:
        connects = int(environ.get('mod_wsgi.daemon_connects', 0))
        restarts = int(environ.get('mod_wsgi.daemon_restarts', 0))
    except ValueError:
        connects = restarts = 0
    start = environ['mod_wsgi.application_start']
    cpu0 = resource.getrusage(resource.RUSAGE_THREAD)
    returned, _ = _publish('request_started', handle, request_id=request_id, thread_id=thread_id,
                           request_environ=environ, application_object=application,
                           server_pid=server_pid, request_start=request_start,
                           daemon_connects=connects, daemon_restarts=restarts,
                           application_start=start, **timing)
    for r in returned:
        application = r.get('application_object', application)
    response = _EventResponse(handle)
    response.request_id = request_id
    try:
        _respond(application, environ, handle, sendfile, response)
    except BaseException:
        _publish('request_exception', handle, request_id=request_id, thread_id=thread_id,
                 exception_info=sys.exc_info())
        raise
    finally:
        finish = time.time()
        cpu1 = resource.getrusage(resource.RUSAGE_THREAD)
        user = cpu1.ru_utime - cpu0.ru_utime
        system = cpu1.ru_stime - cpu0.ru_stime
        _publish('request_finished', handle, request_id=request_id, thread_id=thread_id,
                 server_pid=server_pid, request_start=request_start,
                 application_start=start, application_finish=finish,
                 application_time=finish - start,
                 cpu_user_time=user, cpu_system_time=system, cpu_time=user + system,
                 **_host.stats(handle), **timing)
        _request.data = None
        active_requests.pop(request_id, None)


def _auth(script, reload, function, environ, args):
    """Calls `function(environ, *args)` of an authentication script
    (WSGIAuthUserScript, WSGIAuthGroupScript, WSGIAccessScript) and returns
    (kind, value); anything but what mod_wsgi documents raises TypeError."""
    environ['wsgi.version'] = (1, 0)
    environ['wsgi.errors'] = _Log(None, _ERR, 'wsgi.errors')
    module = _load_script(script, reload)
    f = getattr(module, function, None)
    if not callable(f):
        raise LookupError("the authentication script '%s' does not define %s()" % (script, function))
    result = f(environ, *args)
    where = "%s() in '%s'" % (function, script)
    if function == 'groups_for_user':
        if isinstance(result, (str, bytes)):
            raise TypeError('%s must return an iterable of group names, not one %s'
                            % (where, type(result).__name__))
        groups = []
        for group in result:
            if isinstance(group, bytes):
                group = group.decode('latin-1')
            elif not isinstance(group, str):
                raise TypeError('%s returned a group name that is %s, not str or bytes'
                                % (where, type(group).__name__))
            groups.append(group)
        return ('groups', groups)
    if result is None:
        return ('neutral' if function == 'allow_access' else 'not_found', None)
    if function == 'get_realm_hash':
        if isinstance(result, bytes):
            result = result.decode('latin-1')
        if isinstance(result, str):
            return ('hash', result)
        raise TypeError('%s must return the hex digest as str, or None; not %r' % (where, result))
    if result is True:
        return ('granted', None)
    if result is False:
        return ('denied', None)
    if function == 'check_password' and isinstance(result, str) and result:
        return ('granted', result)
    raise TypeError('%s must return True, False or None%s; not %r'
                    % (where, ' or a user name' if function == 'check_password' else '', result))


def _dispatch(script, reload, environ):
    """WSGIDispatchScript: what its process_group(), application_group() and
    callable_object() (each optional) say for this request; None leaves
    the configured choice."""
    environ['wsgi.version'] = (1, 0)
    environ['wsgi.errors'] = _Log(None, _ERR, 'wsgi.errors')
    module = _load_script(script, reload)
    answers = []
    for name in ('process_group', 'application_group', 'callable_object'):
        f = getattr(module, name, None)
        value = f(environ) if callable(f) else None
        if value is not None and not isinstance(value, str):
            raise TypeError("%s() in the dispatch script '%s' must return a str or None, not %r"
                            % (name, script, value))
        answers.append(value)
    return tuple(answers)


def _apache_module(version, mpm_name, maximum_processes, threads_per_process,
                   description, build_date, embedded):
    """The companion `apache` module, as mod_wsgi makes it: in an Apache
    child an importable `apache` package is extended, else a new module."""
    module = None
    if embedded:
        try:
            import apache as module
        except ModuleNotFoundError:
            sys.modules.pop('apache', None)
    if module is None:
        module = types.ModuleType('apache')
        sys.modules['apache'] = module
    module.version = version
    module.mpm_name = mpm_name
    module.maximum_processes = maximum_processes
    module.threads_per_process = threads_per_process
    module.description = description
    module.build_date = build_date


# Python starts in the process that serves (never in a parent that forks
# servers), so this process's pid is known once.
_pid = os.getpid()


def _extend_public_package():
    """A `mod_wsgi` package installed from PyPI (mod_wsgi-express's
    `mod_wsgi.express`, `mod_wsgi.server`) stays importable: like mod_wsgi,
    which fills the installed package with its API, our `mod_wsgi` module
    searches that package's directories for submodules."""
    import mod_wsgi as public
    dirs = [os.path.join(p, 'mod_wsgi') for p in sys.path
            if os.path.isabs(p) and os.path.isfile(os.path.join(p, 'mod_wsgi', '__init__.py'))]
    public.__path__ = dirs


def _setup(python_path, restrict_stdin, restrict_stdout, restrict_signal,
           python_eggs=None, switch_interval=None, path_first=None, home_env=None):
    """Per-interpreter set-up: module search path, stdio, signals, the egg
    cache (WSGIPythonEggs), the GIL switch interval (WSGISwitchInterval),
    and in a daemon its home= first on sys.path and its user's HOME."""
    import site
    if home_env is not None:
        os.environ['HOME'] = home_env
    if path_first is not None and path_first not in sys.path:
        sys.path.insert(0, path_first)
    if python_eggs is not None:
        os.environ['PYTHON_EGG_CACHE'] = python_eggs
    if switch_interval is not None and sys.getswitchinterval() != switch_interval:
        sys.setswitchinterval(switch_interval)
        _host.log(None, _INFO, 'GIL switch interval set to %g seconds' % switch_interval)
    for directory in python_path:
        site.addsitedir(directory)
    sys.stdin = _Restricted('sys.stdin', 'WSGIRestrictStdin') if restrict_stdin else open(os.devnull)
    if restrict_stdout:
        sys.stdout = _Restricted('sys.stdout', 'WSGIRestrictStdout')
    else:
        sys.stdout = _Log(None, _ERR, '<stdout>')
    sys.stderr = _Log(None, _ERR, '<stderr>')
    _extend_public_package()
    if restrict_signal:
        import signal

        def _ignored_signal(signum, handler):
            _host.log(None, _WARNING, 'callback registration for signal %d ignored (WSGIRestrictSignal On); '
                      'use mod_wsgi.subscribe_shutdown() for clean-up' % signum)
            return handler

        signal.signal = _ignored_signal
