"""Where the module this package carries is, and what it was built against."""

import os

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
