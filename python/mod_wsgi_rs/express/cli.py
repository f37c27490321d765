"""mod_wsgi-express COMMAND ...: the command line of mod_wsgi 6.1's
mod_wsgi-express, for this package's module."""

import os
import shutil
import sys
import sysconfig

from .. import server
from . import layout, options, scripts, supervisor
from .options import OptionError

USAGE = '''usage: mod_wsgi-express COMMAND [options]

Commands:
  start-server [script] [options]   write a server root and run Apache in
                                    the foreground (SIGTERM: graceful stop)
  setup-server [script] [options]   write a server root (httpd.conf,
                                    apachectl, envvars) and stop
  module-config                     the LoadModule and WSGIPythonHome lines
                                    for an Apache configuration
  module-location                   the path of the module
  install-module [--modules-directory DIR]
                                    copy the module into Apache's modules
                                    directory; print the lines for it

"mod_wsgi-express COMMAND --help" lists a command's options, the options
of mod_wsgi-express refused here (with what to use instead) and examples;
"mod_wsgi-express --version" says which mod_wsgi-rs and Python this is.'''


def _fail(message):
    print('mod_wsgi-express: error: %s' % message, file=sys.stderr)
    sys.exit(2)


def _module_or_fail():
    path = server.where()
    if not os.path.exists(path):
        _fail('this installation has no module at %s' % path)
    return path


def _python_library_or_fail():
    try:
        return server.python_library()
    except server.NoPythonLibrary as e:
        _fail(str(e))


def module_config(argv):
    if argv:
        _fail('module-config takes no arguments: %s' % ' '.join(argv))
    module = _module_or_fail()
    print('LoadFile "%s"' % _python_library_or_fail())
    print('LoadModule wsgi_module "%s"' % module)
    print('WSGIPythonHome "%s"' % sys.prefix)


def module_location(argv):
    if argv:
        _fail('module-location takes no arguments: %s' % ' '.join(argv))
    print(_module_or_fail())


def install_module(argv):
    target = None
    if argv[:1] == ['--modules-directory'] and len(argv) == 2:
        target = argv[1]
    elif argv:
        _fail('install-module takes only --modules-directory DIR: %s'
              % ' '.join(argv))
    target = target or server.build_facts().get('modules_directory') \
        or layout._apxs('LIBEXECDIR') or '/usr/lib/apache2/modules'
    name = 'mod_wsgi_rs-py%s.so' % sysconfig.get_config_var('py_version_nodot')
    dest = os.path.join(target, name)
    try:
        shutil.copyfile(_module_or_fail(), dest + '.tmp')
        os.chmod(dest + '.tmp', 0o644)
        os.replace(dest + '.tmp', dest)
    except OSError as e:
        _fail('cannot install into %s: %s' % (target, e))
    print('LoadFile "%s"' % _python_library_or_fail())
    print('LoadModule wsgi_module "%s"' % dest)
    print('WSGIPythonHome "%s"' % sys.prefix)


def setup(command, argv):
    """Writes the server root for start-server or setup-server."""
    try:
        opts = options.parse(command, argv)
        settings = layout.resolve(opts)
        _module_or_fail()
        conf = scripts.write_all(settings)
    except OptionError as e:
        _fail(str(e))
    except OSError as e:
        _fail('cannot write the server root: %s' % e)
    print(scripts.describe(settings, conf))
    sys.stdout.flush()
    return settings


def start_server(argv):
    settings = setup('start-server', argv)
    if settings['setup_only']:
        return
    sys.exit(supervisor.run(os.path.join(settings['server_root'], 'apachectl')))


COMMANDS = {
    'start-server': start_server,
    'setup-server': lambda argv: setup('setup-server', argv),
    'module-config': module_config,
    'module-location': module_location,
    'install-module': install_module,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(USAGE)
        return
    if argv[0] == '--version':
        print(options.version())
        return
    command = COMMANDS.get(argv[0])
    if command is None:
        _fail('unknown command %r (start-server, setup-server, module-config, '
              'module-location, install-module)' % argv[0])
    command(argv[1:])
