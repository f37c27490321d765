# A WSGIHandlerScript: mod_wsgi calls handle_request, never application.
import os
import json

import mod_wsgi


def application(environ, start_response):
    start_response('500 Wrong Callable', [('Content-Type', 'text/plain')])
    return [b'application() must not be called for a handler script']


def handle_request(environ, start_response):
    body = json.dumps({
        'callable': 'handle_request',
        'pid': os.getpid(),
        'process_group': mod_wsgi.process_group,
        'application_group': environ.get('mod_wsgi.application_group'),
        'handler_script': environ.get('mod_wsgi.handler_script'),
        'request_handler': environ.get('mod_wsgi.request_handler'),
        'script_filename': environ.get('SCRIPT_FILENAME'),
        'path_info': environ.get('PATH_INFO'),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
