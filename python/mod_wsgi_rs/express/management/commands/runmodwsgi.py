"""manage.py runmodwsgi [options]: start-server for this Django project,
with mod_wsgi-express's options. The WSGI application is the project's
WSGI_APPLICATION, imported as a module; static files (STATIC_URL ->
STATIC_ROOT) are served by Apache when STATIC_ROOT is set."""

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from mod_wsgi_rs.express import cli


class Command(BaseCommand):
    help = "Runs this project under Apache with mod_wsgi-rs (mod_wsgi-express " \
           "start-server's options; --help-express lists them)."

    def add_arguments(self, parser):
        parser.add_argument('args', nargs='*',
                            help="mod_wsgi-express start-server options")

    def run_from_argv(self, argv):
        # Pass the options through untouched: they are start-server's, not
        # Django's (so --port 8001 works as it does with mod_wsgi).
        if argv[2:3] == ['--help-express']:
            cli.main(['start-server', '--help'])
            return
        self.execute(*argv[2:], no_color=False, force_color=False,
                     skip_checks=True)

    def handle(self, *args, **options):
        wsgi = getattr(settings, 'WSGI_APPLICATION', None)
        if not wsgi:
            raise SystemExit('runmodwsgi: WSGI_APPLICATION is not set')
        module, _, callable_object = wsgi.rpartition('.')
        argv = ['start-server', '--application-type', 'module',
                '--entry-point', module, '--callable-object', callable_object,
                '--working-directory', os.getcwd()]
        static_root = getattr(settings, 'STATIC_ROOT', None)
        static_url = getattr(settings, 'STATIC_URL', None)
        if static_root and static_url and static_url.startswith('/'):
            argv += ['--url-alias', static_url.rstrip('/'), static_root]
        sys.stdout.flush()
        cli.main(argv + list(args))
