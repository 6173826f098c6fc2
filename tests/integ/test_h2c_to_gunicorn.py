"""h2c through sluice to gunicorn (sync workers) on a Unix socket."""

import hashlib
import json
import os
import unittest

from harness import IntegTest

BID_REQUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                           "shared", "data", "openrtb-bid-request.json")


class H2cToGunicorn(IntegTest):
    def test_get_post_and_forwarded_headers(self):
        _, addr = self.start_gunicorn()
        port = self.start_sluice({"bidders": [addr]})
        status, _, body = self.get("/")
        self.assertEqual((status, body), (200, b"hello from gunicorn\n"))

        status, _, body = self.get("/headers")
        self.assertEqual(status, 200)
        seen = json.loads(body)["headers"]
        self.assertEqual(seen["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(seen["host"], "127.0.0.1:%d" % port)

        with open(BID_REQUEST, "rb") as f:
            payload = f.read()
        res = self.curl("--data-binary", "@" + BID_REQUEST, "-H",
                        "content-type: application/json", self.url("/echo"))
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(res.stdout, payload)

    def test_one_megabyte_echo(self):
        _, addr = self.start_gunicorn()
        self.start_sluice({"bidders": [addr]})
        upload = os.path.join(self.dir, "up.bin")
        data = os.urandom(1024 * 1024)
        with open(upload, "wb") as f:
            f.write(data)
        res = self.curl("--data-binary", "@" + upload, "-o", "-", self.url("/echo"))
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(hashlib.sha256(res.stdout).digest(), hashlib.sha256(data).digest())


if __name__ == "__main__":
    unittest.main()
