#!/usr/bin/env python3
"""bench/hold.py PORT IDLE CONNECTIONS STREAMS PATH: opens IDLE h2c
connections to 127.0.0.1:PORT with the preface and an empty SETTINGS, and
prints "held" once the server has answered each one's SETTINGS. After a line
on its standard input it opens CONNECTIONS more, each also with STREAMS GET
PATH streams left to the server, and prints "held" again. It holds everything
until its standard input closes. bench/core.sh measures a proxy's memory
between the steps; nothing is closed before the end, so that no step reuses
memory another freed."""

import resource
import select
import socket
import struct
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, HEADERS = 0x4, 0x1
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def literal(name, value):
    """HPACK literal without indexing, new name (RFC 7541 §6.2.2)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def open_all(port, count, first):
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(first)
        socks.append(s)
    for s in socks:  # the server's SETTINGS: it has taken the connection in
        if not s.recv(65536):
            sys.exit("hold.py: a connection closed")
    print("held", flush=True)
    return socks


def main():
    port, idle, conns, streams, path = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                        int(sys.argv[4]), sys.argv[5])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, idle + conns + 64)), hard))
    block = literal(":method", "GET") + literal(":scheme", "http") + \
        literal(":path", path) + literal(":authority", "127.0.0.1")
    hello = PREFACE + frame(SETTINGS, 0, 0)
    socks = open_all(port, idle, hello)
    sys.stdin.readline()
    socks += open_all(port, conns, hello + b"".join(
        frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, block) for i in range(streams)))
    select.select([sys.stdin], [], [])
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
