"""A loopback stand-in for a Slack incoming webhook: records each POSTed JSON body and answers as Slack does
(200 "ok"), or with the replies a test queues ((500, "oops"), (404, "no_service"))."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlackReceiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.paths: list[str] = []
        self.replies: list[tuple[int, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    code, text = receiver.replies.pop(0) if receiver.replies else (200, "ok")
                    if code == 200:
                        receiver.messages.append(json.loads(body))
                    receiver.paths.append(self.path)
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/test"

    def reply_next(self, code: int, text: str, times: int = 1) -> None:
        with self.lock:
            self.replies.extend([(code, text)] * times)

    def texts(self) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.messages]

    def __enter__(self) -> SlackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
