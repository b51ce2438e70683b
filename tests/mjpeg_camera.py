"""A local IP camera for tests: a video's frames as an MJPEG stream over HTTP, paced in real time."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import cv2


class MjpegCamera:
    """A local IP camera: the street video's frames as an MJPEG stream over HTTP, paced at ``fps``.

    Serves until ``stop()`` (connections are cut, as when a camera loses power), and can be
    started again on the same port, as when it comes back. ``gone_silent`` is set once a viewer's stream has
    stopped sending with its connection kept open (``start(silent_after=…)``).
    """

    def __init__(self, vtest_path: Path, fps: float = 30.0, frames: int = 60, *, stop_after: int | None = None,
                 then: Callable[[], None] | None = None) -> None:
        """``stop_after``: the camera loses power once it has sent that many frames to one viewer (the frames a
        run got, however long its model took to load), and ``then`` is called; once, not after a restart."""
        capture = cv2.VideoCapture(str(vtest_path))
        self.jpegs = []
        while len(self.jpegs) < frames:
            ok, frame = capture.read()
            if not ok:
                break
            self.jpegs.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
        capture.release()
        self.period = 1.0 / fps
        self.port = 0
        self._server = None
        self._lock = threading.Lock()
        self._stop_after, self._then = stop_after, then
        self.gone_silent = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self, *, silent_after: int | None = None, drop_after: int | None = None) -> None:
        """``silent_after``: the camera sends that many frames to each viewer, then nothing more, keeping the
        connection open until ``stop()``, as a camera whose encoder hung or a network that drops every packet
        (0: it answers the request and never sends a frame, as a camera still booting). ``drop_after``: it sends
        that many frames to each viewer, then drops the connection, as a camera on a failing link does."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        camera, running = self, threading.Event()
        running.set()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index, due = 0, time.monotonic()
                try:
                    while running.is_set():
                        if index == silent_after:
                            self.wfile.flush()
                            camera.gone_silent.set()
                            while running.is_set():
                                time.sleep(0.05)
                            return
                        jpeg = camera.jpegs[index % len(camera.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        index, due = index + 1, due + camera.period
                        if camera._cut_after(index) or index == drop_after:
                            return
                        time.sleep(max(0.0, due - time.monotonic()))
                except OSError:
                    pass  # the viewer went away

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True  # started again on the same port, as a camera coming back
            daemon_threads = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._running = running
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _cut_after(self, sent: int) -> bool:
        """True when ``sent`` frames to one viewer is where the camera loses power (then it stops, off this thread:
        stopping waits for the server's loop)."""
        with self._lock:
            if self._stop_after is None or sent < self._stop_after:
                return False
            self._stop_after = None

        def cut() -> None:
            self.stop()
            if self._then is not None:
                self._then()

        threading.Thread(target=cut, daemon=True).start()
        return True

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            self._running.clear()  # every open stream ends
            server.shutdown()
            server.server_close()
