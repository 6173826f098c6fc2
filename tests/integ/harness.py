"""Integration harness: starts the real sluice, real backends and real clients on
loopback, waits on readiness (never on fixed sleeps), and stops only the processes
it started, by PID."""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

SLUICE = os.environ.get("SLUICE_BIN", "build/proxy/sluice")
BACKEND = os.environ.get("DEMO_BACKEND_BIN", "build/tools/sluice-demo-backend")
SLUICECTL = os.environ.get("SLUICECTL_BIN", "build/tools/sluicectl")
HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz"


# libevent reads the coarse monotonic clock, which may lag by a tick: a timer
# can fire a few ms before its nominal time, as measured by the test's clock.
TIMER_SLACK = 0.01

def pattern_bytes(n):
    """The demo backend's /bytes/N body, computed independently of it."""
    whole, rest = divmod(n, len(PATTERN))
    return PATTERN * whole + PATTERN[:rest]


def ephemeral_ports():
    """The kernel's range for the local port of a connect()."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A loopback port nothing holds, below the ephemeral range: one from inside
    it, free when asked, can be taken by any connect() (a test beside this one
    opens hundreds) before the process it is meant for binds it."""
    low, _ = ephemeral_ports()
    for _ in range(200):
        port = random.randrange(10000, low) if low > 11000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise AssertionError("no free loopback port below %d" % low)


def established_to(port):
    """Established TCP connections to 127.0.0.1:port, counted at the client's end."""
    peer = "0100007F:%04X" % port  # /proc/net/tcp's little-endian address
    with open("/proc/net/tcp") as f:
        return sum(1 for line in f.readlines()[1:]
                   if line.split()[2] == peer and line.split()[3] == "01")


def wait_until(predicate, timeout=10.0, what="condition"):
    """Polls predicate until it is true and returns what it gave; fails the
    test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def is_asan_build():
    """sluice built with AddressSanitizer: two to three times slower, so figures
    that depend on its speed under load say nothing there."""
    out = subprocess.run(["ldd", SLUICE], capture_output=True).stdout
    return b"libasan" in out


def children(pid):
    """The PIDs of pid's children (sluice's workers, for its master)."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


def can_connect(addr):
    """addr: 'unix:/path' or 'host:port'."""
    try:
        if addr.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = addr[5:]
        else:
            host, port = addr.rsplit(":", 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, int(port))
        with s:
            s.settimeout(1)
            s.connect(target)
        return True
    except OSError:
        return False


class Proc:
    """A process this test started; logs go to a file in the test's directory."""

    def __init__(self, name, args, workdir, env=None):
        self.name = name
        self.stop_signal = signal.SIGTERM  # what tearDown stops it with
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "wb")
        # its own process group: a test can signal it (and its children) as a
        # terminal would, without reaching the test runner
        self.popen = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env, cwd=workdir,
                                      start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    def is_running(self):
        return self.popen.poll() is None

    def send_signal(self, sig):
        if self.is_running():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout=15):
        """Waits for the process to exit by itself; returns its exit status."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %ss" % (self.name, timeout))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the process and waits for it; returns its exit status."""
        self.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError("%s did not exit within %ss of signal %d"
                                 % (self.name, timeout, sig))
        finally:
            self.log.close()

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class IntegTest(unittest.TestCase):
    """Base class: a temporary directory and the processes started in it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-integ-")
        self.procs = []
        self.sluice = None
        # a cleanup, not tearDown: it runs even when a subclass's setUp fails
        # after starting processes
        self.addCleanup(self.stop_processes)

    def stop_processes(self):
        failed_sluice = None
        for proc in reversed(self.procs):
            if proc is self.sluice and proc.is_running():
                status = proc.stop()
                if status != 0:
                    failed_sluice = (status, proc.output())
            elif proc.is_running():
                # sluice has exited, so a backend holds no client connection here
                proc.stop(sig=proc.stop_signal, timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)
        if failed_sluice is not None:
            self.fail("sluice exited %d on SIGTERM:\n%s" % failed_sluice)

    def start(self, name, args, env=None):
        proc = Proc(name, args, self.dir, env)
        self.procs.append(proc)
        return proc

    def start_backend(self, name="backend", tcp=False, args=()):
        """The C demo backend; returns (proc, addr)."""
        if tcp:
            addr = "127.0.0.1:%d" % free_port()
        else:
            addr = "unix:" + os.path.join(self.dir, name + ".sock")
        proc = self.start(name, [BACKEND, "--listen", addr, "--id", name] + list(args))
        wait_until(lambda: can_connect(addr) or not proc.is_running(), what=name)
        self.assertTrue(proc.is_running(), proc.output())
        return proc, addr

    def start_gunicorn(self, workers=2, threads=1):
        sock = os.path.join(self.dir, "gunicorn.sock")
        addr = "unix:" + sock
        # A worker still booting when the master gets SIGINT has not installed its own
        # handlers yet and ignores the master's SIGQUIT, so the master waits out the
        # graceful timeout (30 s by default) before it SIGKILLs it: keep that short.
        args = [shutil.which("gunicorn") or "/usr/bin/gunicorn", "--chdir", APPS,
                "--bind", addr, "--workers", str(workers), "--log-level", "warning",
                "--graceful-timeout", "2"]
        if threads > 1:
            args += ["--threads", str(threads), "--worker-class", "gthread"]
        proc = self.start("gunicorn", args + ["wsgi_app:app"])
        # SIGINT is gunicorn's quick shutdown; SIGTERM lets busy workers finish first
        proc.stop_signal = signal.SIGINT
        wait_until(lambda: can_connect(addr) or not proc.is_running(), timeout=20,
                   what="gunicorn")
        self.assertTrue(proc.is_running(), proc.output())
        return proc, addr

    def write_config(self, text, name="sluice.yaml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_sluice(self, backends, rules="", extra="", listeners=None, log_level="info",
                     port=None, wrapper=(), start_timeout=10.0):
        """backends: {name: [addr, ...]} or {name: ([addr], {key: value})}.
        With listeners given, port must name the cleartext one to probe.
        wrapper is a command sluice runs under (valgrind). Returns that port."""
        port = port or free_port()
        listeners = listeners or ["  - address: 127.0.0.1:%d\n" % port]
        text = "log_level: %s\n%slisteners:\n%sbackends:\n" % (log_level, extra,
                                                               "".join(listeners))
        for name, spec in backends.items():
            servers, opts = (spec, {}) if isinstance(spec, list) else spec
            text += "  - name: %s\n    servers: [%s]\n" % (name, ", ".join(servers))
            for key, value in opts.items():
                text += "    %s: %s\n" % (key, value)
        text += rules
        path = self.write_config(text)
        self.sluice = self.start("sluice", list(wrapper) + [SLUICE, "-c", path])
        self.sluice_port = port
        probe = "127.0.0.1:%d" % port
        wait_until(lambda: can_connect(probe) or not self.sluice.is_running(),
                   timeout=start_timeout, what="sluice")
        self.assertTrue(self.sluice.is_running(), self.sluice.output())
        admin = re.search(r"^admin_address: (\S+)$", text, re.M)
        if admin:  # bound before the listeners: it accepts once they do
            self.assertTrue(can_connect(admin.group(1)),
                            "the admin listener\n" + self.sluice.output())
        return port

    def url(self, path, port=None):
        return "http://127.0.0.1:%d%s" % (port or self.sluice_port, path)

    def curl(self, *args, timeout=60):
        """Runs curl with h2c prior knowledge; returns the CompletedProcess (bytes)."""
        cmd = ["curl", "-sS", "--http2-prior-knowledge", "--max-time", str(timeout)]
        return subprocess.run(cmd + list(args), capture_output=True, timeout=timeout + 10)

    def h2load(self, *args):
        """Runs h2load, which must exit 0; returns (requests, succeeded, 2xx)."""
        res = subprocess.run(["h2load"] + list(args), capture_output=True, timeout=120)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 0, out + res.stderr.decode())
        done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
        codes = re.search(r"status codes: (\d+) 2xx", out)
        return int(done.group(1)), int(done.group(3)), int(codes.group(1))

    def get(self, path, *args):
        """GET through sluice; returns (status, headers dict, body bytes)."""
        hdr = os.path.join(self.dir, "headers.txt")
        res = self.curl("-D", hdr, "-o", "-", *args, self.url(path))
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return parse_headers(hdr) + (res.stdout,)


def parse_headers(path):
    status, headers = None, {}
    with open(path, "rb") as f:
        for line in f.read().decode().splitlines():
            if line.startswith("HTTP/"):
                status, headers = int(line.split()[1]), {}
            elif ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
    return status, headers


def backend_seen(body):
    """The demo backend's /headers JSON as (method, path, {lowercase name: [values]})."""
    doc = json.loads(body)
    seen = {}
    for name, value in doc["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return doc["method"], doc["path"], seen, doc["body_bytes"]
