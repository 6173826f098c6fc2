"""The admin dashboard in headless Chromium: the page loads, fetches live
figures, and shows what /stats and /connections say; a screenshot is kept as
a test artifact."""

import html.parser
import json
import os
import shutil
import subprocess
import unittest
import urllib.request

from harness import IntegTest, free_port, wait_until
from test_admin import CLASSES
from test_h2_malformed import RawClient

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = os.environ.get("SLUICE_ARTIFACTS")

# bulk may stand in the queue for the whole test; /gone goes to a backend whose
# one server is not listening
CONFIG = CLASSES.replace("  - name: bulk\n", "  - name: bulk\n    max_queue_ms: 60000\n"
                         "    max_backlog_ms: 60000\n").replace(
    "rules:\n", "rules:\n  - path: /gone\n    backend: gone\n") + "admin_address: 127.0.0.1:%d\n"
QUEUED = 2


class Tables(html.parser.HTMLParser):
    """The text of every row of every table, by table id; and every SVG plot's
    attributes, with the points of its lines, by id."""

    def __init__(self):
        super().__init__()
        self.tables, self.table, self.row = {}, None, None
        self.plots, self.plot = {}, None

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.plot = dict(attrs, lines=[])
            self.plots[self.plot.get("id")] = self.plot
        elif tag == "polyline" and self.plot is not None:
            self.plot["lines"].append([tuple(map(float, p.split(",")))
                                       for p in dict(attrs)["points"].split()])
        elif tag == "table":
            self.table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag == "td" and self.row is not None:
            self.row.append("")

    def handle_endtag(self, tag):
        if tag == "svg":
            self.plot = None
        if tag == "tr" and self.row:
            self.table.append(self.row)
        if tag in ("tr", "table"):
            self.row = None

    def handle_data(self, data):
        if self.row:
            self.row[-1] += data


@unittest.skipUnless(CHROMIUM, "chromium is not installed")
class Dashboard(IntegTest):
    def chromium(self, *args):
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               "--user-data-dir=" + os.path.join(self.dir, "chromium"),
                               "--virtual-time-budget=3000"] + list(args),
                              capture_output=True, timeout=120)

    def fetch(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.admin_port, path),
                                    timeout=10) as res:
            return json.loads(res.read())

    def test_the_page_shows_the_live_figures(self):
        self.admin_port = free_port()
        backend, addr = self.start_backend(args=["--verbose"])
        gone = "unix:" + os.path.join(self.dir, "gone.sock")
        self.start_sluice({"demo": ([addr], {"max_inflight": 1}),
                           "gone": ([gone], {"eject_after_failures": 1, "eject_ms": 600000})},
                          extra=CONFIG % self.admin_port)
        for _ in range(4):
            self.assertEqual(self.get("/status/200")[0], 200)
        for _ in range(3):
            self.assertEqual(self.get("/")[0], 200)
        self.assertEqual(self.get("/gone")[0], 502)  # a bulk response; its server is out
        wait_until(lambda: self.fetch("/stats")["backends"][1]["servers_ejected"] == 1,
                   what="the ejection")
        holder = RawClient(self.sluice_port)  # a live connection with a stream open
        holder.start()
        holder.request(1, "GET", "/delay/10000")
        wait_until(lambda: "/delay/10000 waiting" in backend.output(), what="the held request")
        for i in range(QUEUED):  # behind the held request, in the one slot
            holder.request(3 + 2 * i, "GET", "/")
        wait_until(lambda: self.fetch("/stats")["backends"][0]["queued"] == QUEUED,
                   what="the standing queue")
        url = "http://127.0.0.1:%d/" % self.admin_port

        res = self.chromium("--dump-dom", url)
        self.assertEqual(res.returncode, 0, res.stderr.decode(errors="replace")[-2000:])
        page = Tables()
        page.feed(res.stdout.decode())
        stats, conns = self.fetch("/stats"), self.fetch("/connections")

        classes = {row[0]: row for row in page.tables["classes"]}
        for k in stats["classes"]:  # every answer, the 502 sluice gave for /gone included
            answered = sum(sum(c["responses"].values()) for b in stats["backends"]
                           for c in b["classes"] if c["name"] == k["name"])
            self.assertEqual(int(classes[k["name"]][3]), answered, classes)
        self.assertEqual((int(classes["bid"][3]), int(classes["bulk"][3])), (4, 3 + 1))
        for k in stats["classes"]:  # the standing queue, over the backends
            queued = sum(c["queued"] for b in stats["backends"] for c in b["classes"]
                         if c["name"] == k["name"])
            self.assertEqual(int(classes[k["name"]][7]), queued, classes)
            self.assertIsNone(k["shed_p99_ms"])  # nothing was shed: no figure to show
            self.assertEqual(classes[k["name"]][6], "-", classes)
        self.assertEqual(int(classes["bulk"][7]), QUEUED)
        self.assertGreater(float(classes["bulk"][8]), 0, classes)  # a backlog to drain
        self.assertEqual(float(classes["bid"][8]), 0, classes)
        backends = {row[0]: row for row in page.tables["backends"]}
        demo = stats["backends"][0]
        # a static limiter has no knee nor no-load latency to show
        self.assertEqual(backends["demo"][1:7], [str(demo["inflight"]), str(demo["queued"]),
                                                 str(demo["limit"]), "-", "-",
                                                 str(4 + 3 + 1 + QUEUED)])
        self.assertEqual(demo["inflight"], 1)  # the held request
        self.assertEqual((backends["demo"][9], backends["gone"][9]), ("0", "1"))
        # the plots: one sample a second over the virtual seconds, the rates from the second
        inflight = page.plots["plot-backend-demo"]
        samples = int(inflight["data-samples"])
        self.assertGreaterEqual(samples, 2)
        self.assertEqual(inflight["data-last"], "%d,%d" % (demo["inflight"], demo["limit"]))
        self.assertEqual([len(line) for line in inflight["lines"]], [samples, samples])
        # the limit is the top of the scale: its line runs along the top
        self.assertTrue(all(y == 16.0 for _, y in inflight["lines"][1]), inflight["lines"][1])
        for k in stats["classes"]:
            rates = page.plots["plot-class-" + k["name"]]
            self.assertEqual([len(line) for line in rates["lines"]], [samples - 1] * 2)
            self.assertIn("plot-p99-" + k["name"], page.plots)
        peers = [row[0] for row in page.tables["connections"]]
        self.assertIn("127.0.0.1:%d" % holder.sock.getsockname()[1], peers)
        self.assertEqual(len(peers), len(conns["connections"]))

        shot = os.path.join(ARTIFACTS or self.dir, "dashboard.png")
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        res = self.chromium("--window-size=1000,700", "--screenshot=" + shot, url)
        self.assertEqual(res.returncode, 0, res.stderr.decode(errors="replace")[-2000:])
        with open(shot, "rb") as f:
            image = f.read()
        self.assertEqual(image[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(image), 5000)
        holder.close()


if __name__ == "__main__":
    unittest.main()
