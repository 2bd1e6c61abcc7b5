"""Addresses where no Provenance Ledger server is: a web site that answers every request with
an HTML page (as a wrong URL's host would), and a port nothing listens on."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.serving import free_port

PAGE = b"<!doctype html><html><body><h1>Welcome to our web site</h1></body></html>"


class _Page(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status = 200 if self.command == "GET" else 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        """Quiet: the test's output is the command's."""


@contextmanager
def html_site() -> Iterator[str]:
    """The base URL of a local web site that is not a log: every GET is 200 with an HTML page,
    every POST 404 with one."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def nobody_listens() -> str:
    """A URL on this machine where nothing listens (connection refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 another socket listens on, for as long as the block runs."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]
