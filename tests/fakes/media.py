"""A loopback stand-in for a provider's media host that can also misbehave: serve any content type,
redirect elsewhere, or send a body with no Content-Length (the length only known by reading it all).
Every request is recorded, so a test can prove a URL was never fetched."""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class MediaFile:
    data: bytes = b""
    content_type: str = "image/jpeg"
    redirect_to: str | None = None
    send_length: bool = True


class FakeMediaHost:
    def __init__(self) -> None:
        self.files: dict[str, MediaFile] = {}
        self.requests: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # a body without Content-Length ends when the connection closes

            def do_GET(self):
                host.requests.append(self.path)
                found = host.files.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if found.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", found.redirect_to)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", found.content_type)
                if found.send_length:
                    self.send_header("Content-Length", str(len(found.data)))
                self.end_headers()
                self.wfile.write(found.data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, data: bytes = b"", content_type: str = "image/jpeg", **options) -> str:
        """Serve ``data`` at ``path``; returns its URL on 127.0.0.1."""
        self.files[path] = MediaFile(data=data, content_type=content_type, **options)
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
