"""mod_wsgi-express for mod_wsgi-rs: the same command line as mod_wsgi 6.1's,
writing an Apache configuration that loads this package's module.

Also a Django app: with 'mod_wsgi_rs.express' in INSTALLED_APPS,
`manage.py runmodwsgi` takes the same options as `start-server`."""
