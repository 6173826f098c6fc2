"""HTTP/2 over TLS (ALPN h2) through sluice to the demo backend."""

import os
import subprocess
import unittest

from harness import IntegTest, backend_seen, free_port, parse_headers, wait_until, can_connect


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


class TlsToH1(TlsSetup, IntegTest):
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
