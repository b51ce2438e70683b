"""A local web server for tests: serves a folder's files with byte ranges, as real web servers do.

Python's own ``http.server`` ignores ``Range`` headers, and FFmpeg cannot seek in a video
served without them; every real web server (and CDN) answers them.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class WebServer:
    """Serves ``folder`` on 127.0.0.1 until ``stop()``; ``url(name)`` is a file's address."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._server: ThreadingHTTPServer | None = None

    def url(self, name: str) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def start(self) -> "WebServer":
        folder = self.folder

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                path = folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                start, end = 0, len(data) - 1
                if wanted:
                    start = int(wanted.group(1))
                    end = min(int(wanted.group(2)), end) if wanted.group(2) else end
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                try:
                    self.wfile.write(data[start:end + 1])
                except OSError:
                    pass  # the player went away (it seeks by closing one request and making another)

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
