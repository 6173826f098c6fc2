"""Raw HTTP/2 frames a real client would never send: sluice answers as RFC 9113
prescribes and keeps serving."""

import json
import socket
import struct
import unittest
import urllib.request

from harness import IntegTest, free_port

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CONTINUATION = 9
PROTOCOL_ERROR, COMPRESSION_ERROR = 1, 9


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def literal(name, value):
    """HPACK literal field without indexing, new name (RFC 7541 §6.2.2); short strings."""
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def hpack_int(value, prefix_bits, first_byte):
    """RFC 7541 §5.1."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first_byte | value])
    out = [first_byte | top]
    value -= top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


class RawClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def start(self):
        self.send(PREFACE + frame(SETTINGS, 0, 0))

    def read_frame(self):
        """Next frame as (type, flags, stream, payload), or None at EOF."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buf += chunk
        length = int.from_bytes(self.buf[:3], "big")
        ftype, flags = self.buf[3], self.buf[4]
        stream = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
        payload = self.buf[9:9 + length]
        self.buf = self.buf[9 + length:]
        return ftype, flags, stream, payload

    def wait_for(self, ftype, stream=None):
        """The next frame of ftype (None: of any type) on stream (None: any),
        acknowledging SETTINGS on the way; None at EOF."""
        while True:
            f = self.read_frame()
            if f is None:
                return None
            if f[0] == SETTINGS and not f[1] & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            if (ftype is None or f[0] == ftype) and (stream is None or f[2] == stream):
                return f

    def read_body(self, stream):
        """The DATA of stream up to its END_STREAM; None if the connection ends first."""
        body = b""
        while True:
            f = self.wait_for(DATA, stream)
            if f is None:
                return None
            body += f[3]
            if f[1] & END_STREAM:
                return body

    def request(self, stream, method, path, end_stream=True, headers=()):
        block = literal(":method", method) + literal(":scheme", "http") + \
            literal(":path", path) + literal(":authority", "x")
        for name, value in headers:
            block += literal(name, value)
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block))

    def close(self):
        self.sock.close()


class H2Malformed(IntegTest):
    def setUp(self):
        super().setUp()
        _, addr = self.start_backend()
        self.admin = free_port()
        self.port = self.start_sluice({"demo": [addr]},
                                      extra="admin_address: 127.0.0.1:%d\n" % self.admin)

    def test_bad_preface_closes_the_connection(self):
        c = RawClient(self.port)
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        f = c.wait_for(GOAWAY)
        # either nghttp2 says GOAWAY first or the socket just closes; never an answer
        self.assertTrue(f is None or f[0] == GOAWAY)
        c.close()
        self.assertEqual(self.get("/")[0], 200)

    def test_missing_path_resets_the_stream_and_the_connection_lives(self):
        c = RawClient(self.port)
        c.start()
        block = literal(":method", "GET") + literal(":scheme", "http") + \
            literal(":authority", "x")
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], PROTOCOL_ERROR)
        c.send(frame(PING, 0, 0, b"12345678"))
        f = c.wait_for(PING)
        self.assertEqual((f[1], f[3]), (ACK, b"12345678"))
        c.close()

    def test_uppercase_header_name_is_a_stream_error(self):
        c = RawClient(self.port)
        c.start()
        block = literal(":method", "GET") + literal(":scheme", "http") + \
            literal(":path", "/") + literal(":authority", "x") + literal("X-Upper", "1")
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], PROTOCOL_ERROR)
        c.close()

    def test_data_on_idle_stream_is_a_connection_error(self):
        c = RawClient(self.port)
        c.start()
        c.send(frame(DATA, END_STREAM, 3, b"hello"))
        f = c.wait_for(GOAWAY)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3][4:8])[0], PROTOCOL_ERROR)
        self.assertIsNone(c.read_frame())  # then the connection closes
        c.close()

    def test_the_last_stream_id_is_served(self):
        last = 2**31 - 1
        c = RawClient(self.port)
        c.start()
        c.request(last, "GET", "/")
        f = c.wait_for(HEADERS, last)
        self.assertIsNotNone(f, "no answer on the last stream id")
        c.close()

    def test_one_field_over_64_kib_ends_the_connection_with_compression_error(self):
        """nghttp2's HPACK decoder takes no field over 64 KiB and cannot skip one
        (docs/config.md, max_request_header_bytes): GOAWAY COMPRESSION_ERROR."""
        name, value = b"x-big", b"a" * (70 * 1024)
        field = b"\x00" + bytes([len(name)]) + name + hpack_int(len(value), 7, 0) + value
        block = literal(":method", "GET") + literal(":scheme", "http") + \
            literal(":path", "/") + literal(":authority", "x") + field
        c = RawClient(self.port)
        c.start()
        pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        frames = [frame(HEADERS, END_STREAM, 1, pieces[0])]
        frames += [frame(CONTINUATION, END_HEADERS if i == len(pieces) - 1 else 0, 1, piece)
                   for i, piece in enumerate(pieces[1:], 1)]
        c.send(b"".join(frames))
        # read only: sluice closes with the rest of the block unread, and a write
        # (wait_for's SETTINGS ACK) would meet the reset
        f = c.read_frame()
        while f is not None and f[0] != GOAWAY:
            f = c.read_frame()
        self.assertIsNotNone(f, "no GOAWAY came")
        self.assertEqual(struct.unpack(">I", f[3][4:8])[0], COMPRESSION_ERROR)
        c.close()
        self.assertEqual(self.get("/")[0], 200)

    def expect_reset(self, c, stream, why):
        f = c.wait_for(RST_STREAM, stream)
        self.assertIsNotNone(f, f"{why}: no RST_STREAM")
        self.assertEqual(struct.unpack(">I", f[3])[0], PROTOCOL_ERROR, why)

    def expect_ok(self, c, stream):
        """A response on stream: nghttp2 writes :status 200 as static index 8."""
        f = c.wait_for(HEADERS, stream)
        self.assertIsNotNone(f, f"no response on stream {stream}")
        self.assertEqual(f[3][:1], b"\x88", f"stream {stream} was not answered 200")

    def test_malformed_heads_reset_their_stream_and_the_connection_lives(self):
        """RFC 9113 §8.1.1, §8.2, §8.3: each one a stream error, the next
        request on the same connection served."""
        head = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "x")]
        cases = {
            "connection-specific field": head + [("connection", "close")],
            "transfer-encoding": head + [("transfer-encoding", "chunked")],
            "upgrade": head + [("upgrade", "h2c")],
            "te other than trailers": head + [("te", "gzip")],
            "repeated :path": head + [(":path", "/again")],
            "response pseudo-header": head + [(":status", "200")],
            ":protocol without RFC 8441": head + [(":protocol", "websocket")],
            "pseudo-header after a regular field": head[:3] + [("accept", "*/*"), head[3]],
            "no :scheme": [head[0], head[2], head[3]],
            "neither :authority nor host": head[:3],
            "two host fields": head[:3] + [("host", "a"), ("host", "b")],
            "content-length not digits": head + [("content-length", "1x")],
            "two content-lengths": head + [("content-length", "0"), ("content-length", "0")],
            "http :path not absolute": [head[0], head[1], (":path", "x"), head[3]],
            "CONNECT with :path": [(":method", "CONNECT"), (":path", "/"),
                                   (":authority", "x:443")],
            ":method not a token": [(":method", "G T")] + head[1:],
            "content-length with END_STREAM": head + [("content-length", "5")],
        }
        c = RawClient(self.port)
        c.start()
        stream = 1
        for why, fields in cases.items():
            block = b"".join(literal(n, v) for n, v in fields)
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, stream, block))
            self.expect_reset(c, stream, why)
            c.request(stream + 2, "GET", "/")
            self.expect_ok(c, stream + 2)
            stream += 4
        c.close()
        stats = json.load(urllib.request.urlopen("http://127.0.0.1:%d/stats" % self.admin))
        self.assertEqual(stats["requests_malformed"], len(cases))

    def test_field_values_a_backend_could_misread_are_dropped(self):
        """Regular fields with control bytes or padded values are left out, the
        request served without them, as nghttp2 did for sluice."""
        c = RawClient(self.port)
        c.start()
        c.request(1, "GET", "/headers", headers=[
            ("x-kept", "1"), ("x-lead", " padded"), ("x-ctl", "a\x01b"), ("x(y", "1"),
            ("x-kept-too", "2")])
        self.expect_ok(c, 1)
        body = c.read_body(1)
        self.assertIsNotNone(body)
        seen = dict(json.loads(body)["headers"])
        self.assertEqual((seen.get("x-kept"), seen.get("x-kept-too")), ("1", "2"))
        for dropped in ("x-lead", "x-ctl", "x(y"):
            self.assertNotIn(dropped, seen)
        c.close()

    def post_head(self, c, stream, length):
        c.request(stream, "POST", "/echo", end_stream=False,
                  headers=[("content-length", str(length))])

    def test_a_body_longer_than_its_content_length_resets_the_stream(self):
        c = RawClient(self.port)
        c.start()
        self.post_head(c, 1, 3)
        c.send(frame(DATA, END_STREAM, 1, b"abcdef"))
        self.expect_reset(c, 1, "six bytes for three")
        c.request(3, "GET", "/")
        self.expect_ok(c, 3)
        c.close()

    def test_a_body_shorter_than_its_content_length_resets_the_stream(self):
        c = RawClient(self.port)
        c.start()
        self.post_head(c, 1, 10)
        c.send(frame(DATA, 0, 1, b"abc"))
        c.send(frame(DATA, END_STREAM, 1, b"de"))
        self.expect_reset(c, 1, "five bytes for ten")
        c.request(3, "GET", "/")
        self.expect_ok(c, 3)
        c.close()
        self.assertEqual(self.get("/")[0], 200)  # the backend's connection was not reused mid-body

    def test_trailers_end_the_request_and_break_no_rule(self):
        c = RawClient(self.port)
        c.start()
        self.post_head(c, 1, 3)
        c.send(frame(DATA, 0, 1, b"abc"))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, literal("x-checksum", "1")))
        self.expect_ok(c, 1)
        self.post_head(c, 3, 3)
        c.send(frame(DATA, 0, 3, b"abc"))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, literal(":path", "/")))
        self.expect_reset(c, 3, "a pseudo-header in trailers")
        self.post_head(c, 5, 3)
        c.send(frame(DATA, 0, 5, b"abc"))
        c.send(frame(HEADERS, END_HEADERS, 5, literal("x-checksum", "1")))
        self.expect_reset(c, 5, "trailers that do not end the stream")
        c.close()

    def test_client_reset_mid_request_leaves_sluice_healthy(self):
        c = RawClient(self.port)
        c.start()
        block = literal(":method", "GET") + literal(":scheme", "http") + \
            literal(":path", "/hang") + literal(":authority", "x")
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL
        c.send(frame(PING, 0, 0, b"abcdefgh"))
        self.assertIsNotNone(c.wait_for(PING))
        c.close()
        self.assertEqual(self.get("/")[0], 200)


if __name__ == "__main__":
    unittest.main()
