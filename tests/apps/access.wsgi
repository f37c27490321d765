# WSGIAccessScript for the auth tests: the URL says what to answer.
def allow_access(environ, host):
    uri = environ.get('REQUEST_URI', '')
    if 'deny' in uri:
        return False
    if 'neutral' in uri:
        return None
    if 'boom' in uri:
        raise RuntimeError('access script raised on purpose')
    if 'bad' in uri:
        return 'yes'
    return host == '127.0.0.1'
