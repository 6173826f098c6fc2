"""h2c through sluice to backends that answer badly: each gets a well-formed
answer to the client (502 or RST_STREAM), and sluice keeps serving."""

import os
import socket
import threading
import unittest

from harness import IntegTest

HEAD_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class ScriptedBackend:
    """A Unix-socket backend that reads one request head per connection and
    answers with the bytes given, then closes."""

    def __init__(self, path, answer):
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


class H2cToBadBackend(IntegTest):
    def answer_with(self, answer):
        path = os.path.join(self.dir, "scripted.sock")
        backend = ScriptedBackend(path, answer)
        self.addCleanup(backend.stop)
        _, good = self.start_backend("good")
        routes = "routes:\n  - prefix: /headers\n    backend: good\n"
        self.start_sluice({"bad": ["unix:" + path], "good": [good]}, routes=routes)

    def assert_502_and_alive(self):
        status, _, body = self.get("/x")
        self.assertEqual(status, 502)
        self.assertIn(b"502", body)
        self.assertEqual(self.get("/headers")[0], 200)

    def test_garbage_status_line(self):
        self.answer_with(b"HELLO THERE\r\n\r\n")
        self.assert_502_and_alive()

    def test_invalid_content_length(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nhello")
        self.assert_502_and_alive()

    def test_oversized_response_head(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        self.assert_502_and_alive()

    def test_status_outside_the_relayable_range(self):
        self.answer_with(b"HTTP/1.1 700 Odd\r\nContent-Length: 0\r\n\r\n")
        self.assert_502_and_alive()

    def test_close_without_answer(self):
        self.answer_with(b"")
        self.assert_502_and_alive()

    def test_interim_response_is_skipped(self):
        self.answer_with(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + HEAD_OK)
        status, _, body = self.get("/x")
        self.assertEqual((status, body), (200, b"ok"))

    def test_body_delimited_by_close(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        status, _, body = self.get("/x")
        self.assertEqual((status, body), (200, b"until the end"))

    def test_connection_specific_fields_are_not_relayed(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
                         b"Keep-Alive: timeout=5\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok")
        status, headers, _ = self.get("/x")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-kept"), "yes")
        for name in ("connection", "x-hop", "keep-alive"):
            self.assertNotIn(name, headers)


if __name__ == "__main__":
    unittest.main()
