#!/usr/bin/env python3
"""Count the messages on a NATS subject until interrupted, speaking the NATS text protocol over
a plain socket (no client library to install); prints the count. For benches/overhead.sh."""
import signal
import socket
import sys

host, port = sys.argv[1].split(":")
subject = sys.argv[2]
sock = socket.create_connection((host, int(port)))
sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB ' + subject.encode() + b" 1\r\nPING\r\n")
count = 0
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGINT, stop)
buf = b""
sock.settimeout(0.5)
while not stopping:
    try:
        chunk = sock.recv(1 << 20)
    except socket.timeout:
        continue
    except InterruptedError:
        break
    if not chunk:
        break
    buf += chunk
    while True:
        end = buf.find(b"\r\n")
        if end < 0:
            break
        line = buf[:end]
        if line.startswith(b"MSG "):
            size = int(line.split()[-1])
            if len(buf) < end + 2 + size + 2:
                break
            count += 1
            buf = buf[end + 2 + size + 2:]
        else:
            if line == b"PING":
                sock.sendall(b"PONG\r\n")
            buf = buf[end + 2:]
print(count)
