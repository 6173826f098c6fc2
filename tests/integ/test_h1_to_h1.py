"""HTTP/1.1 clients through sluice to the C demo backend over HTTP/1.1: curl, raw
sockets for pipelining and for what no client would send, h2load --h1 and wrk."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.request

from harness import TIMER_SLACK, IntegTest, backend_seen, free_port, wait_until

BODY = open(os.path.join(os.path.dirname(__file__), "..", "..", "bench", "data",
                         "openrtb-bid-request.json"), "rb").read()


class Responses:
    """Reads HTTP/1.1 responses off a socket, framed by Content-Length or chunks."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read(self, is_head=False):
        """(status, {lowercase name: value}, body)."""
        status = int(self._line().split(b" ")[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            name, value = line.split(b":", 1)
            headers[name.decode().lower()] = value.strip().decode()
        if is_head or status in (100, 204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._line(), 16)
                if size == 0:
                    self._line()
                    return status, headers, body
                body += self._take(size)
                self._take(2)
        return status, headers, self._take(int(headers["content-length"]))

    def is_closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def request(method, path, headers=(), body=None, host="example.test"):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + host] + list(headers)
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class H1ToH1(IntegTest):
    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.sluice_port), timeout=10)
        self.addCleanup(s.close)
        return s, Responses(s)

    def backend_requests(self, backend):
        return backend.output().count(" -> ")

    def test_curl_keep_alive_and_forwarded_fields(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        url = self.url("/headers")
        res = subprocess.run(["curl", "-sS", "--http1.1", url, url, "-w", "%{num_connects}\\n"],
                             capture_output=True, timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr)
        docs = res.stdout.decode().strip().split("\n")
        self.assertEqual(docs[-1], "0", "the second request reused the connection")
        method, path, seen, _ = backend_seen(docs[0])
        self.assertEqual((method, path), ("GET", "/headers"))
        self.assertEqual(seen["host"], ["127.0.0.1:%d" % self.sluice_port])
        self.assertEqual(seen["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(seen["x-forwarded-proto"], ["http"])
        self.assertNotIn("connection", seen)

    def test_pipelined_requests_are_answered_in_order(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        s, r = self.connect()
        s.sendall(request("GET", "/delay/200") + request("POST", "/echo", body=b"second") +
                  request("GET", "/headers?third") + request("HEAD", "/headers?fourth"))
        status, _, body = r.read()
        self.assertEqual((status, body), (200, b"ok\n"))
        status, _, body = r.read()
        self.assertEqual((status, body), (200, b"second"))
        status, _, body = r.read()
        self.assertEqual(backend_seen(body)[1], "/headers?third")
        status, headers, body = r.read(is_head=True)
        self.assertEqual((status, body), (200, b""))
        self.assertIn("content-length", headers)
        # the connection stays open for more; empty lines before a request are ignored
        s.sendall(b"\r\n\r\n" + request("GET", "/"))
        self.assertEqual(r.read()[0], 200)

    def test_a_head_in_pieces_is_read_whole(self):
        """Pieces a slow client sends: its empty line split between reads, an
        empty line before the request split too. The pauses only make separate
        reads likely; the test holds whether or not the pieces coalesce."""
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        s, r = self.connect()
        head = (b"\r\nGET /headers?pieces HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 3000 +
                b"\r\n\r\n")
        for cut in (1, 2, 20, len(head) - 3, len(head) - 1):
            s.sendall(head[:cut])
            time.sleep(0.02)
            s.sendall(head[cut:])
            status, _, body = r.read()
            self.assertEqual(status, 200)
            self.assertEqual(backend_seen(body)[1], "/headers?pieces")
        s, r = self.connect()
        s.sendall(b"GET / HTTP/1.1\nHost: a\n")
        time.sleep(0.02)
        s.sendall(b"\n")
        self.assertEqual(r.read()[0], 400)
        self.assertTrue(r.is_closed())

    def test_bodies_content_length_and_chunked_both_ways(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]}, extra="stream_window_bytes: 65536\n")
        s, r = self.connect()
        s.sendall(request("POST", "/echo", body=BODY))
        self.assertEqual(r.read()[2], BODY)
        # 1 MiB in chunks of 10000: more than a window, so reading pauses and resumes
        big = bytes(range(256)) * 4096
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 10000]), big[i:i + 10000])
                          for i in range(0, len(big), 10000))
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  chunks + b"0\r\n\r\n")
        status, headers, body = r.read()
        self.assertEqual((status, len(body)), (200, len(big)))
        self.assertEqual(body, big)
        # a response the backend sends chunked is relayed chunked to HTTP/1.1
        res = subprocess.run(["curl", "-sS", "--http1.1", "-o", os.devnull, "-w",
                              "%{size_download} %{http_code}", self.url("/bytes/300000")],
                             capture_output=True, timeout=20)
        self.assertEqual(res.stdout, b"300000 200")
        # a chunk longer than its size: 400, and the connection closes
        s, r = self.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhelloXX\r\n")
        self.assertEqual(r.read()[0], 400)
        self.assertTrue(r.is_closed())

    def test_a_request_larger_than_the_backend_socket_takes_at_once(self):
        # over TCP the socket takes some tens of KiB at a time: the head (sent
        # with the body's first bytes in one writev) goes out in parts, and
        # what the socket did not take waits in the output buffer
        _, addr = self.start_backend(tcp=True)
        self.start_sluice({"demo": [addr]}, extra="max_request_header_bytes: 262144\n")
        s, r = self.connect()
        big = bytes(range(256)) * 4096
        for _ in range(2):  # the second on the same connection to the backend
            s.sendall(request("POST", "/echo", headers=["X-Big: " + "b" * 40000], body=big))
            status, _, body = r.read()
            self.assertEqual((status, len(body)), (200, len(big)))
            self.assertEqual(body, big)

    def test_smuggling_shapes_get_400_and_never_reach_the_backend(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        # the count below can move: a good request is counted
        s, r = self.connect()
        s.sendall(request("GET", "/headers?good"))
        self.assertEqual(r.read()[0], 200)
        wait_until(lambda: self.backend_requests(backend) == 1, what="the backend's log")
        payloads = [
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -4\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
            b"POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
            b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",  # no Host
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        ]
        for payload in payloads:
            with self.subTest(payload=payload):
                before = self.backend_requests(backend)
                s, r = self.connect()
                s.sendall(payload + request("GET", "/smuggled"))
                status, headers, _ = r.read()
                self.assertEqual(status, 400)
                self.assertEqual(headers.get("connection"), "close")
                self.assertTrue(r.is_closed())
                self.assertEqual(self.backend_requests(backend), before)
        self.assertNotIn("/smuggled", backend.output())

    def test_expect_continue_http10_and_close(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        s, r = self.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        self.assertEqual(r.read()[0], 100)
        s.sendall(b"hello")
        status, _, body = r.read()
        self.assertEqual((status, body), (200, b"hello"))
        # HTTP/1.0: closed after the answer unless keep-alive is asked for
        s, r = self.connect()
        s.sendall(b"GET /headers HTTP/1.0\r\n\r\n")
        status, headers, body = r.read()
        self.assertEqual((status, headers.get("connection")), (200, "close"))
        self.assertEqual(backend_seen(body)[2]["host"], ["localhost"])
        self.assertTrue(r.is_closed())
        s, r = self.connect()
        s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        self.assertEqual(r.read()[1].get("connection"), "keep-alive")
        s.sendall(request("GET", "/", ["Connection: close"]))
        self.assertEqual(r.read()[1].get("connection"), "close")
        self.assertTrue(r.is_closed())

    def test_limits_and_timeouts(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]},
                          extra="client_idle_timeout_ms: 300\nclient_header_timeout_ms: 300\n"
                          "max_request_header_bytes: 4096\n")
        s, r = self.connect()
        s.sendall(request("GET", "/", ["X-Big: " + "a" * 5000]))
        self.assertEqual(r.read()[0], 431)
        self.assertTrue(r.is_closed())
        # a head that does not complete in time: 408
        started = time.monotonic()
        s, r = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        self.assertEqual(r.read()[0], 408)
        self.assertGreaterEqual(time.monotonic() - started, 0.3 - TIMER_SLACK)
        self.assertTrue(r.is_closed())
        # an idle keep-alive connection closes quietly
        s, r = self.connect()
        s.sendall(request("GET", "/"))
        self.assertEqual(r.read()[0], 200)
        started = time.monotonic()
        self.assertTrue(r.is_closed())
        self.assertGreaterEqual(time.monotonic() - started, 0.3 - TIMER_SLACK)

    def test_shed_answers_over_http11(self):
        backend, addr = self.start_backend(args=["--verbose"])
        extra = ("classes:\n  - name: bid\n    deadline_ms: 500\n    shed: {status: 204}\n"
                 "  - name: bulk\n    shed: {refuse_stream: true}\n"
                 "default_class: bid\nbudget_header: x-request-timeout-ms\n")
        rules = "rules:\n  - path_prefix: /bulk\n    class: bulk\n"
        self.start_sluice({"demo": [addr]}, extra=extra, rules=rules)
        s, r = self.connect()
        # a spent budget is shed at the door with the class's answer; the body is dropped
        s.sendall(request("POST", "/headers?spent", ["x-request-timeout-ms: 0"], body=BODY))
        self.assertEqual(r.read()[0], 204)
        s.sendall(request("GET", "/headers?after"))
        self.assertEqual(backend_seen(r.read()[2])[1], "/headers?after")
        self.assertNotIn("/headers?spent", backend.output())
        # shed with a body too large to drain: the answer arrives whole, the rest of
        # the body is dropped while sluice lingers, and no reset takes the answer away
        for _ in range(3):
            big, rb = self.connect()
            big.sendall(b"POST /headers?big HTTP/1.1\r\nHost: a\r\nx-request-timeout-ms: 0\r\n"
                        b"Content-Length: 10000000\r\n\r\n" + b"x" * 200000)
            status, headers, _ = rb.read()
            self.assertEqual((status, headers.get("connection")), (204, "close"))
            big.sendall(b"x" * 200000)  # still taken: no reset while lingering
            self.assertTrue(rb.is_closed())
        # a class that refuses: HTTP/1.1 has no stream to refuse, so 503 and close
        s.sendall(request("GET", "/bulk", ["x-request-timeout-ms: 0"]))
        status, headers, _ = r.read()
        self.assertEqual((status, headers.get("retry-after")), (503, "1"))
        self.assertTrue(r.is_closed())

    def test_connections_and_stats_say_http1(self):
        backend, addr = self.start_backend(args=["--verbose"])
        admin = free_port()
        self.start_sluice({"demo": [addr]}, extra="admin_address: 127.0.0.1:%d\n" % admin)
        s, r = self.connect()
        for _ in range(3):
            s.sendall(request("GET", "/"))
            self.assertEqual(r.read()[0], 200)
        rows = json.load(urllib.request.urlopen("http://127.0.0.1:%d/connections" % admin))
        mine = [c for c in rows["connections"] if c["protocol"] == "http1"]
        self.assertEqual(len(mine), 1, rows)
        self.assertEqual(mine[0]["requests"], 3)
        s, r = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n")
        self.assertEqual(r.read()[0], 400)
        self.assertTrue(r.is_closed())
        stats = json.load(urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin))
        # a request exists once its request line is read: the refused one counts too
        self.assertEqual(stats["requests_by_protocol"]["http1"], 4)
        self.assertEqual(stats["accepted"]["http1"], 2)
        self.assertEqual(stats["requests_malformed"], 1)

    def test_upgrade_to_h2c(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        before = self.backend_requests(backend)
        res = subprocess.run(["curl", "-sS", "-v", "--http2", self.url("/headers?up")],
                             capture_output=True, timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(b"< HTTP/1.1 101 Switching Protocols", res.stderr)
        self.assertIn(b"< HTTP/2 200", res.stderr)
        method, path, seen, _ = backend_seen(res.stdout)
        self.assertEqual(path, "/headers?up")
        self.assertFalse({"upgrade", "http2-settings", "connection"} & set(seen), seen)
        wait_until(lambda: self.backend_requests(backend) > before, what="the backend's log")
        self.assertEqual(self.backend_requests(backend), before + 1, "seen once")
        # stream 1 by the upgrade, then more streams on the same connection
        res = subprocess.run(["nghttp", "-nvu", self.url("/"), self.url("/headers"),
                              self.url("/bid")], capture_output=True, timeout=20)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 0, out)
        self.assertIn("HTTP Upgrade success", out)
        self.assertEqual(out.count(":status: 200"), 3, out)
        # a request with a body is not upgraded: served as HTTP/1.1
        s, r = self.connect()
        s.sendall(request("POST", "/echo", ["Connection: Upgrade, HTTP2-Settings",
                                            "Upgrade: h2c", "HTTP2-Settings: AAMAAABk"],
                          body=b"stay"))
        self.assertEqual(r.read()[::2], (200, b"stay"))
        # a settings value that does not decode, or not into whole entries: 400 and close
        for settings in ("not*base64", "AAAAAAA"):
            s, r = self.connect()
            s.sendall(request("GET", "/", ["Connection: Upgrade, HTTP2-Settings",
                                           "Upgrade: h2c", "HTTP2-Settings: " + settings]))
            self.assertEqual(r.read()[0], 400)
            self.assertTrue(r.is_closed())

    def test_what_review_found(self):
        """Trailers in pieces, an answer before the body, a flood of pipelined
        bytes, absolute-form targets, and a client that shuts its side."""
        backend, addr = self.start_backend(args=["--verbose"])
        extra = ("client_idle_timeout_ms: 400\nclasses:\n  - name: bid\n    shed: {status: 204}\n"
                 "budget_header: x-request-timeout-ms\n")
        self.start_sluice({"demo": [addr]}, extra=extra)
        # a trailer split over two reads is ignored, not read from freed memory
        s, r = self.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\nX-Trailer: v")
        time.sleep(0.05)  # the split is what is tested: two reads
        s.sendall(b"alue\r\n\r\n")
        self.assertEqual(r.read()[::2], (200, b"hello"))
        # answered before the body came: the connection does not stay open for ever
        s, r = self.connect()
        s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nx-request-timeout-ms: 0\r\n"
                  b"Content-Length: 100\r\n\r\n")
        self.assertEqual(r.read()[0], 204)
        started = time.monotonic()
        self.assertTrue(r.is_closed(timeout=5))
        self.assertLess(time.monotonic() - started, 3)
        # pipelined bytes behind a slow request are not all read into memory
        s, r = self.connect()
        s.sendall(request("GET", "/delay/1500"))
        s.settimeout(1.0)
        sent, junk = 0, b"x" * 65536
        try:
            while sent < 64 << 20:
                sent += s.send(junk)
        except socket.timeout:
            pass
        self.assertLess(sent, 16 << 20, "sluice kept reading")
        s.close()
        # absolute-form: an IPv6 literal keeps its brackets, a query with no path is kept
        s, r = self.connect()
        s.sendall(b"GET http://[::1]:8080/headers HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(backend_seen(r.read()[2])[2]["host"], ["[::1]:8080"])
        s.sendall(b"GET http://example.test?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = r.read()
        wait_until(lambda: "GET /?q=1 -> " in backend.output(), what="the query forwarded")
        # a client that shuts its side after its request still gets the answer
        s, r = self.connect()
        s.sendall(request("GET", "/delay/200"))
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(r.read()[::2], (200, b"ok\n"))
        self.assertTrue(r.is_closed())

    def test_drain_answers_then_closes(self):
        """SIGTERM: a request waiting for its answer gets it, and its connection
        still takes the next request (a pipelining client loses nothing); a
        response under way ends; each connection closes after a second idle."""
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]}, extra="drain_timeout_ms: 10000\n")
        waiting, r_waiting = self.connect()
        waiting.sendall(request("GET", "/delay/600"))
        # a small receive buffer and a large body: the answer is still under way
        streaming = socket.socket()
        self.addCleanup(streaming.close)
        streaming.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        streaming.connect(("127.0.0.1", self.sluice_port))
        r_streaming = Responses(streaming)
        streaming.sendall(request("GET", "/bytes/30000000"))
        self.assertEqual(r_streaming._line().split(b" ")[1], b"200")  # the head is out
        idle, r_idle = self.connect()
        idle.sendall(request("GET", "/"))
        self.assertEqual(r_idle.read()[0], 200)
        wait_until(lambda: "/delay/600 waiting" in backend.output(), what="the held request")
        started = time.monotonic()
        self.sluice.send_signal(signal.SIGTERM)
        status, headers, body = r_waiting.read()
        self.assertEqual((status, headers.get("connection"), body), (200, None, b"ok\n"))
        waiting.sendall(request("GET", "/"))
        self.assertEqual(r_waiting.read()[0], 200)
        self.assertTrue(r_waiting.is_closed())
        self.assertTrue(r_idle.is_closed())
        self.assertGreater(time.monotonic() - started, 0.9)  # idle for a second first
        rest = bytearray(r_streaming.buf)  # the rest of the response, then the close
        # (a bytearray: += on bytes copies the whole 30 MB each time, seconds of it)
        streaming.settimeout(10)
        while True:
            chunk = streaming.recv(1 << 20)
            if not chunk:
                break
            rest += chunk
        self.assertGreater(len(rest), 30000000)
        self.assertEqual(self.sluice.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 5, "the drain waited for its timeout")

    def test_h2load_h1_and_wrk(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        body = os.path.join(self.dir, "body.json")
        with open(body, "wb") as f:
            f.write(BODY)
        res = subprocess.run(["h2load", "--h1", "-n", "3000", "-c", "20", "-d", body,
                              self.url("/bid")], capture_output=True, timeout=60)
        out = res.stdout.decode()
        self.assertIn("3000 succeeded, 0 failed, 0 errored", out, out)
        self.assertIn("3000 2xx", out, out)
        wrk = shutil.which("wrk")
        if wrk is None:
            self.fail("wrk is not installed (tools/install-deps.sh installs it)")
        res = subprocess.run([wrk, "-t", "1", "-c", "20", "-d", "1s", self.url("/")],
                             capture_output=True, timeout=30)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 0, out + res.stderr.decode())
        self.assertNotIn("Non-2xx", out, out)
        self.assertNotIn("Socket errors", out, out)
        requests = int(out.split(" requests in ")[0].split()[-1])
        self.assertGreater(requests, 100, out)


if __name__ == "__main__":
    unittest.main()
