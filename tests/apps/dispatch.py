# WSGIDispatchScript for the tests: the query string says what to choose.
def process_group(environ):
    q = environ.get('QUERY_STRING', '')
    if 'to-b' in q:
        return 'b'
    if 'embedded' in q:
        return '%{GLOBAL}'
    if 'nowhere' in q:
        return 'no-such-group'
    if 'wrongtype' in q:
        return 42
    return None


def application_group(environ):
    return 'chosen-group' if 'app-group' in environ.get('QUERY_STRING', '') else None


def callable_object(environ):
    q = environ.get('QUERY_STRING', '')
    if 'bad-callable' in q:
        return 'not an identifier'
    return 'other_app' if 'callable' in q else None
