"""`hpi serve` as a child process for the measurement scripts: started on a free loopback port, ready when /ready
says so, with its CPU time and RSS read from /proc (Linux)."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServeProcess:
    """A `python -m hpi serve` child on a free loopback port (its output to a file), or a running server (url)."""

    def __init__(self, url: Optional[str] = None, pid: Optional[int] = None):
        self.url, self.pid, self.process, self.flags, self._log = url, pid, None, None, None
        self.port = urllib.parse.urlsplit(url).port if url else None

    @classmethod
    def start(cls, serve_args: Sequence[str], ready_timeout: float = 300.0,
              log_level: str = "WARNING") -> "ServeProcess":
        """`python -m hpi serve SERVE_ARGS`, once its /ready answers 200."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [sys.executable, "-m", "hpi", "--log_level", log_level, "serve", *serve_args,
                   "--host", "127.0.0.1", "--port", str(port)]
        server = cls(f"http://127.0.0.1:{port}")
        server.port = port
        server._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        server.process = subprocess.Popen(command, cwd=REPO, stdout=server._log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        server.pid = server.process.pid
        deadline = time.monotonic() + ready_timeout
        while server.status("/ready") != 200:
            if server.process.poll() is not None or time.monotonic() > deadline:
                log = server.stop()
                raise RuntimeError(f"hpi serve {' '.join(serve_args)} did not become ready:\n{log}")
            time.sleep(0.2)
        return server

    def status(self, path: str) -> Optional[int]:
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError:
            return None
        finally:
            connection.close()

    def cpu_seconds(self) -> Optional[float]:
        """user + system CPU time of the server process (all its threads)."""
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mib(self) -> Optional[float]:
        return self._status_mib("VmRSS")

    def peak_rss_mib(self) -> Optional[float]:
        """The most RSS the process has had (its high-water mark)."""
        return self._status_mib("VmHWM")

    def _status_mib(self, field: str) -> Optional[float]:
        if self.pid is None:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self, timeout: float = 60) -> str:
        """SIGTERM (a started server), wait up to `timeout` s (then SIGKILL); its log."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.seek(0)
        log = self._log.read()
        self._log.close()
        return log
