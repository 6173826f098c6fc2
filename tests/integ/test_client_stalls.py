"""Clients that hold a connection without using it (issue 11, defect 3): a
HEADERS block that never ends, a connection kept "alive" by PINGs alone, a TLS
handshake sent a byte at a time. Each is cut off within client_idle_timeout_ms
or client_header_timeout_ms (here 400 and 300 ms; GOAWAY first where HTTP/2 has
one), and sluice keeps serving."""

import socket
import time
import unittest

from harness import IntegTest, free_port
from test_h2_attacks import split_frames
from test_h2_malformed import GOAWAY, HEADERS, PING, RawClient, frame, literal
from test_tls_to_h1 import TlsSetup

IDLE_MS = 400
HEADER_MS = 300
TIMEOUTS = "client_idle_timeout_ms: %d\nclient_header_timeout_ms: %d\n" % (IDLE_MS, HEADER_MS)
NO_ERROR, ENHANCE_YOUR_CALM = 0, 0xB


def closed_within(sock, seconds, feed=None, received=None):
    """Reads until EOF or a reset; feed() is called every 50 ms meanwhile, and
    what is read goes into the bytearray received. Returns the seconds it took,
    or None when the connection stayed open."""
    sock.settimeout(0.05)
    start = fed = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            chunk = sock.recv(65536)
            if received is not None:
                received += chunk
            if not chunk:
                return time.monotonic() - start
        except socket.timeout:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        if feed is not None and time.monotonic() - fed >= 0.05:
            fed = time.monotonic()  # a flood would be cut off (client_glitch_limit)
            try:
                feed()
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
    return None


class ClientStalls(IntegTest):
    def setUp(self):
        super().setUp()
        _, addr = self.start_backend()
        self.port = self.start_sluice({"demo": [addr]}, extra=TIMEOUTS)

    def assert_still_serving(self):
        self.assertEqual(self.get("/")[0], 200)

    def test_pings_alone_do_not_keep_a_connection(self):
        c = RawClient(self.port)
        c.start()
        got = bytearray()
        took = closed_within(c.sock, 5, feed=lambda: c.send(frame(PING, 0, 0, b"12345678")),
                             received=got)
        self.assertIsNotNone(took, "a connection sending only PINGs was never closed")
        goaways = [p for t, _, _, p in split_frames(bytes(got))[0] if t == GOAWAY]
        self.assertEqual([int.from_bytes(p[4:8], "big") for p in goaways], [NO_ERROR])
        # GOAWAY at the timeout, the close a timeout later
        self.assertLess(took, 3 * IDLE_MS / 1000 + 1)
        self.assertGreater(took, IDLE_MS / 1000 * 0.9)
        c.close()
        self.assert_still_serving()

    def test_headers_that_never_end_end_the_connection(self):
        """Mid-block, no frame but CONTINUATION may come (RFC 9113 §6.10), so a
        reset cannot end just the stream: GOAWAY, then the close."""
        c = RawClient(self.port)
        c.start()
        block = literal(":method", "GET") + literal(":scheme", "http") + literal(":path", "/")
        c.send(frame(HEADERS, 0, 1, block))  # no END_HEADERS, and no CONTINUATION follows
        start = time.monotonic()
        # not even the SETTINGS ACK: any frame but CONTINUATION would end the block
        f = c.read_frame()
        while f is not None and f[0] != GOAWAY:
            f = c.read_frame()
        self.assertIsNotNone(f, "no GOAWAY came")
        self.assertEqual(int.from_bytes(f[3][4:8], "big"), ENHANCE_YOUR_CALM)
        self.assertLess(time.monotonic() - start, HEADER_MS / 1000 + 1)
        self.assertIsNotNone(closed_within(c.sock, 5), "the connection stayed open")
        c.close()
        self.assert_still_serving()
        self.assertIn("sent no complete head", self.sluice.output())


class TlsHandshakeStall(TlsSetup, IntegTest):
    def test_handshake_a_byte_at_a_time_is_cut_off(self):
        _, addr = self.start_backend()
        port, _ = self.start_tls_sluice(addr, extra=TIMEOUTS)
        hello = bytes.fromhex("16030100c8010000c40303") + bytes(180)  # a ClientHello's start
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sent = iter(hello)

        def one_byte():
            b = next(sent, None)
            if b is not None:
                sock.send(bytes([b]))
        took = closed_within(sock, 5, feed=one_byte)
        sock.close()
        self.assertIsNotNone(took, "a trickled handshake was never cut off")
        self.assertLess(took, HEADER_MS / 1000 + 1)


if __name__ == "__main__":
    unittest.main()
