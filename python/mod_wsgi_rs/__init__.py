"""mod_wsgi-rs: an Apache httpd 2.4 module, written in Rust, hosting Python
WSGI applications; a drop-in for mod_wsgi. This package carries the module
built for this Python and the `mod_wsgi-express` command."""

__version__ = '0.1.0'
