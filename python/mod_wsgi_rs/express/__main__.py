"""python -m mod_wsgi_rs.express ..."""

from .cli import main

main()
