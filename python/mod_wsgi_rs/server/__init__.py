"""Where the module this package carries is, and what it was built against."""

import os
import sys
import sysconfig

_HERE = os.path.dirname(os.path.abspath(__file__))

#: The module's file name inside this package.
MODULE_NAME = 'mod_wsgi_rs.so'


def where():
    """The absolute path of the Apache module built for this Python."""
    return os.path.join(_HERE, MODULE_NAME)


def build_facts():
    """What the build recorded of the Apache it was built for: httpd's
    path, its modules directory, its mime.types (a dict; empty when the
    package was not built by the project's build backend)."""
    try:
        from . import _build
    except ImportError:
        return {}
    return dict(_build.FACTS)


class NoPythonLibrary(Exception):
    """The Python running this has no shared libpython where it says."""


def python_library():
    """The shared libpython of the Python running this: the module is not
    linked to one, so Apache must load it first (LoadFile). Raises
    NoPythonLibrary naming every place it looked."""
    names = [n for n in (sysconfig.get_config_var('INSTSONAME'),
                         sysconfig.get_config_var('LDLIBRARY'))
             if n and '.so' in n]
    libdir = sysconfig.get_config_var('LIBDIR') or ''
    multiarch = sysconfig.get_config_var('MULTIARCH') or ''
    dirs = [os.path.join(sys.base_prefix, 'lib'), libdir]
    if multiarch:
        dirs.append(os.path.join(libdir, multiarch))
    tried = []
    for name in names:
        for d in dirs:
            path = os.path.join(d, name)
            if path in tried:
                continue
            tried.append(path)
            if os.path.isfile(path):
                return path
    raise NoPythonLibrary(
        'Python %d.%d (%s) has no shared library at %s: install its shared '
        'library (Debian: libpython%d.%d), or use a Python built with '
        '--enable-shared' % (sys.version_info[:2] + (sys.base_prefix,
                             ', '.join(tried) or 'any place sysconfig names')
                             + sys.version_info[:2]))
