"""What handler.wsgi runs inside the daemon: loads the WSGI entry point
(a script file or a module), serves it below its mount point, and says
when a changed script must be loaded again (reload_required)."""

import importlib
import os
import sys
import types


class Application:
    def __init__(self, entry_point, application_type='script',
                 callable_object='application', mount_point='/'):
        self.entry_point = entry_point
        self.application_type = application_type
        self.callable_object = callable_object
        self.mount_point = mount_point.rstrip('/')
        self.mtime = None
        self.application = self._load()

    def _load(self):
        if self.application_type == 'module':
            module = importlib.import_module(self.entry_point)
        else:
            module = self._load_script(self.entry_point)
        try:
            return getattr(module, self.callable_object)
        except AttributeError:
            raise RuntimeError("%s defines no WSGI application called %r "
                               "(--callable-object)" % (
                                   self.entry_point, self.callable_object))

    def _load_script(self, path):
        self.mtime = os.stat(path).st_mtime
        # The name mod_wsgi-express gives the script's module.
        name = '__wsgi__'
        module = types.ModuleType(name)
        module.__file__ = path
        with open(path, 'rb') as f:
            code = compile(f.read(), path, 'exec')
        sys.modules[name] = module
        exec(code, module.__dict__)
        return module

    def reload_required(self, resource):
        """True when the script file changed since it was loaded (the
        module then loads this handler, and so the script, again)."""
        if self.application_type != 'script':
            return False
        try:
            return os.stat(self.entry_point).st_mtime != self.mtime
        except OSError:
            return False

    def handle_request(self, environ, start_response):
        # The handler is reached by an internal redirect for a URL that is
        # no file: Apache's SCRIPT_NAME is the URL's first part. The app
        # sees the whole URL below its mount point instead; a proxy's
        # trusted mount point (mod_wsgi.mount_point) is kept as it is.
        if environ.get('mod_wsgi.mount_point') is not None:
            path = environ.get('mod_wsgi.script_name', '') + \
                environ.get('PATH_INFO', '')
            script_name = environ.get('SCRIPT_NAME', '')
        else:
            path = environ.get('SCRIPT_NAME', '') + environ.get('PATH_INFO', '')
            script_name = ''
        if self.mount_point:
            if path != self.mount_point and \
                    not path.startswith(self.mount_point + '/'):
                start_response('404 Not Found', [
                    ('Content-Type', 'text/plain'), ('Content-Length', '9')])
                return [b'Not Found']
            script_name += self.mount_point
            path = path[len(self.mount_point):]
        environ['SCRIPT_NAME'] = script_name
        environ['PATH_INFO'] = path
        return self.application(environ, start_response)
