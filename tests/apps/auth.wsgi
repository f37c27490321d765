# WSGIAuthUserScript / WSGIAuthGroupScript for the auth tests.
import hashlib

USERS = {'alice': 'secret', 'carol': 'pw', 'dave': 'pw'}


def check_password(environ, user, password):
    if user == 'boom':
        raise RuntimeError('auth script raised on purpose')
    if user == 'wrongtype':
        return 42
    if user == 'renamed':
        return 'alice-the-renamed'
    if 'HTTP_AUTHORIZATION' in environ:
        raise AssertionError('the Authorization header reached the auth script')
    if user not in USERS:
        return None
    return USERS[user] == password


def get_realm_hash(environ, user, realm):
    if user not in USERS:
        return None
    return hashlib.md5(('%s:%s:%s' % (user, realm, USERS[user])).encode()).hexdigest()


def groups_for_user(environ, user):
    if user == 'alice':
        return ['admins', b'staff']
    if user == 'carol':
        return 'admins'  # the wrong type: one str, not a list of names
    return ['users']
