"""HTTP/2 over TLS (ALPN h2) through sluice to the demo backend."""

import os
import socket
import ssl
import subprocess
import unittest

from harness import IntegTest, backend_seen, free_port, parse_headers, wait_until, can_connect
from test_h2_attacks import request_block, split_frames
from test_h2_malformed import DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PREFACE, SETTINGS, frame


class TlsSetup:
    """For IntegTest classes: a self-signed certificate and a sluice with a TLS
    listener beside a cleartext one."""

    def make_certificate(self):
        cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        res = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                              "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                              "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                              "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                             capture_output=True)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return cert, key

    def start_tls_sluice(self, addr, extra=""):
        cert, key = self.make_certificate()
        tls_port, plain_port = free_port(), free_port()
        listeners = ["  - address: 127.0.0.1:%d\n" % plain_port,
                     "  - address: 127.0.0.1:%d\n    tls:\n      certificate: %s\n"
                     "      key: %s\n" % (tls_port, cert, key)]
        self.start_sluice({"demo": [addr]}, listeners=listeners, port=plain_port, extra=extra)
        wait_until(lambda: can_connect("127.0.0.1:%d" % tls_port), what="TLS listener")
        return tls_port, cert


class RecordCounter:
    """A TLS client over a memory BIO, fed one record at a time, so that what
    each record carried is known."""

    def __init__(self, port, cert, alpn):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        ctx = ssl.create_default_context(cafile=cert)
        ctx.set_alpn_protocols([alpn])
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.buf = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.incoming.write(self.next_record())
        self.flush()

    def flush(self):
        self.sock.sendall(self.outgoing.read())

    def send(self, data):
        self.tls.write(data)
        self.flush()

    def next_record(self):
        while len(self.buf) < 5 or len(self.buf) < 5 + int.from_bytes(self.buf[3:5], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-record")
            self.buf += chunk
        n = 5 + int.from_bytes(self.buf[3:5], "big")
        record, self.buf = self.buf[:n], self.buf[n:]
        return record

    def read_until_close(self):
        """The plaintext until the server closes, and whether it said
        close_notify first (after which a read gives b"")."""
        out = b""
        while True:
            try:
                self.incoming.write(self.next_record())
            except ConnectionError:
                return out, False
            try:
                while True:
                    got = self.tls.read(65536)
                    if not got:
                        return out, True
                    out += got
            except ssl.SSLWantReadError:
                pass

    def read_record(self):
        """The plaintext of the next record (b"" for one with none, a session ticket)."""
        self.incoming.write(self.next_record())
        out = b""
        try:
            while True:
                out += self.tls.read(65536)
        except ssl.SSLWantReadError:
            return out


class TlsToH1(TlsSetup, IntegTest):
    # a response that one loop turn produces goes out as one record, however
    # many pieces it was added in (head and body, frames)
    BODY = 3000

    def test_a_response_of_3000_bytes_goes_out_in_one_record_over_http11(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "http/1.1")
        client.send(b"GET /bytes/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % self.BODY)
        response, records = b"", 0
        while b"\r\n\r\n" not in response or \
                len(response.split(b"\r\n\r\n", 1)[1]) < self.BODY:
            got = client.read_record()
            records += bool(got)
            response += got
        self.assertTrue(response.startswith(b"HTTP/1.1 200"), response[:80])
        self.assertEqual(len(response.split(b"\r\n\r\n", 1)[1]), self.BODY)
        self.assertEqual(records, 1)

    def test_a_response_of_3000_bytes_goes_out_in_one_record_over_h2(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "h2")
        client.send(PREFACE + frame(SETTINGS, 0, 0) +
                    frame(HEADERS, END_STREAM | END_HEADERS, 1,
                          request_block(path="/bytes/%d" % self.BODY)))
        plain, spans, ended = b"", [], False  # spans: where each record's plaintext lies
        while not ended:
            got = client.read_record()
            spans.append((len(plain), len(plain) + len(got)))
            plain += got
            frames, _ = split_frames(plain)
            ended = any(f[2] == 1 and f[1] & END_STREAM for f in frames)
        ranges, at, body = [], 0, 0  # the bytes of stream 1's frames
        for ftype, flags, stream, payload in frames:
            size = 9 + len(payload)
            if stream == 1:
                ranges.append((at, at + size))
                body += len(payload) if ftype == DATA else 0
            at += size
        records = sum(1 for lo, hi in spans if any(lo < b and a < hi for a, b in ranges))
        self.assertEqual(body, self.BODY)
        self.assertEqual(records, 1)

    # OpenSSL reads ahead: records that arrive together are read from the
    # socket at once, and the later ones wait inside OpenSSL, where no read
    # event announces them.

    def test_http11_head_and_body_in_records_that_arrive_together(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "http/1.1")
        body = b"0123456789" * 10
        client.tls.write(b"POST /echo HTTP/1.1\r\nHost: localhost\r\ncontent-length: %d\r\n\r\n"
                         % len(body))
        client.tls.write(body)
        client.flush()  # two records, one segment
        response = b""
        while b"\r\n\r\n" not in response or \
                len(response.split(b"\r\n\r\n", 1)[1]) < len(body):
            response += client.read_record()
        self.assertTrue(response.startswith(b"HTTP/1.1 200"), response[:80])
        self.assertEqual(response.split(b"\r\n\r\n", 1)[1], body)

    def test_h2_frames_in_records_that_arrive_together(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "h2")
        client.tls.write(PREFACE + frame(SETTINGS, 0, 0))
        client.tls.write(frame(HEADERS, END_STREAM | END_HEADERS, 1,
                               request_block(path="/bytes/10")))
        client.flush()  # two records, one segment
        plain, ended = b"", False
        while not ended:
            plain += client.read_record()
            frames, _ = split_frames(plain)
            ended = any(f[2] == 1 and f[1] & END_STREAM for f in frames)
        body = b"".join(f[3] for f in frames if f[0] == DATA and f[2] == 1)
        self.assertEqual(body, b"0123456789")

    # A close that is no failure says close_notify first: the client can tell
    # the end from a cut.

    def test_http11_close_after_the_answer_sends_close_notify(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "http/1.1")
        client.send(b"GET /bytes/10 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response, said = client.read_until_close()
        self.assertTrue(said)
        self.assertTrue(response.startswith(b"HTTP/1.1 200"), response[:80])
        self.assertTrue(response.endswith(b"\r\n\r\n0123456789"), response[-40:])

    def test_http11_lingering_close_sends_close_notify(self):
        # bytes after the answered request: sluice shuts its side and reads
        # them for a while (a lingering close), close_notify going first
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "http/1.1")
        client.send(b"GET /bytes/10 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                    b"GET /bytes/10 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response, said = client.read_until_close()
        self.assertTrue(said)
        self.assertEqual(response.count(b"HTTP/1.1 200"), 1)

    def test_h2_close_after_the_client_goes_away_sends_close_notify(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        client = RecordCounter(port, cert, "h2")
        client.send(PREFACE + frame(SETTINGS, 0, 0) + frame(GOAWAY, 0, 0, bytes(8)))
        _, said = client.read_until_close()
        self.assertTrue(said)

    def test_curl_over_tls_negotiates_h2(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        hdr = os.path.join(self.dir, "h.txt")
        res = subprocess.run(["curl", "-sS", "--http2", "--cacert", cert, "-D", hdr,
                              "-w", "%{http_version}", "-o", os.path.join(self.dir, "body"),
                              "https://127.0.0.1:%d/headers" % port], capture_output=True)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(res.stdout, b"2")
        self.assertEqual(parse_headers(hdr)[0], 200)
        with open(os.path.join(self.dir, "body"), "rb") as f:
            _, _, seen, _ = backend_seen(f.read())
        self.assertEqual(seen["x-forwarded-proto"], ["https"])
        self.assertEqual(seen["host"], ["127.0.0.1:%d" % port])

    def test_client_offering_neither_h2_nor_http11_is_refused(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        res = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                              "-alpn", "spdy/3", "-CAfile", cert],
                             input=b"", capture_output=True, timeout=20)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn(b"no application protocol", res.stdout + res.stderr)

    def test_http11_over_tls_by_alpn_and_without_alpn(self):
        backend, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        url = "https://127.0.0.1:%d/headers" % port
        for flags in (["--http1.1"], ["--http1.1", "--no-alpn"]):
            res = subprocess.run(["curl", "-sS", "-i", "--cacert", cert] + flags + [url],
                                 capture_output=True, timeout=20)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertTrue(res.stdout.startswith(b"HTTP/1.1 200"), res.stdout[:80])
            _, _, seen, _ = backend_seen(res.stdout.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(seen["x-forwarded-proto"], ["https"])

    def test_tls_1_1_is_refused(self):
        _, addr = self.start_backend()
        port, cert = self.start_tls_sluice(addr)
        res = subprocess.run(["curl", "-sS", "--http2", "--cacert", cert, "--tls-max", "1.1",
                              "https://127.0.0.1:%d/" % port], capture_output=True, timeout=20)
        self.assertNotEqual(res.returncode, 0)


if __name__ == "__main__":
    unittest.main()
