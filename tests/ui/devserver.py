"""Development server for the visualiser: serves the repository's static/ directory under
/static/ and forwards /api/, /history and /tasklist to a scheduler (luigid or luigid-rs).

    python tests/ui/devserver.py --upstream http://127.0.0.1:8082 --port 8090
    # then open http://127.0.0.1:8090/static/visualiser/index.html

The browser tests use `start()` to put the page in front of the real luigid.
"""
import argparse
import http.server
import mimetypes
import os
import posixpath
import threading
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STATIC = os.path.join(REPO, "static")
PROXIED = ("/api/", "/history", "/tasklist")


def make_handler(upstream, static_root):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        _upstream_server = None

        def version_string(self):
            return self._upstream_server or super().version_string()

        def log_message(self, fmt, *args):  # quiet: tests read the page, not the log
            pass

        def do_HEAD(self):
            if self.path == "/":
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._route(head=True)

        def do_GET(self):
            self._route()

        def do_POST(self):
            self._route()

        def _route(self, head=False):
            self._upstream_server = None
            path = urllib.parse.urlsplit(self.path).path
            if path == "/":
                self.send_response(302)
                self.send_header("Location", "/static/visualiser/index.html")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path.startswith(PROXIED):
                self._proxy()
            elif path.startswith("/static/"):
                self._static(path[len("/static/"):], head)
            else:
                self._plain(404, b"not found")

        def _plain(self, code, body):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _static(self, rel, head):
            rel = posixpath.normpath(urllib.parse.unquote(rel))
            if rel.startswith("..") or rel.startswith("/"):
                return self._plain(403, b"forbidden")
            full = os.path.join(static_root, *rel.split("/"))
            if not os.path.isfile(full):
                return self._plain(404, b"not found")
            with open(full, "rb") as f:
                body = f.read()
            ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
            if full.endswith(".js"):
                ctype = "text/javascript"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _proxy(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {}
            if self.headers.get("Content-Type"):
                headers["Content-Type"] = self.headers["Content-Type"]
            req = urllib.request.Request(upstream + self.path, data=body, method=self.command,
                                         headers=headers)
            server = None
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    code, data, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
                    server = resp.headers.get("Server")
            except urllib.error.HTTPError as e:
                code, data, ctype = e.code, e.read(), e.headers.get("Content-Type")
                server = e.headers.get("Server")
            except OSError as e:
                code, data, ctype = 502, ("upstream: %s" % e).encode(), "text/plain"
            # The upstream's Server header, which the page reads to tell luigid from luigid-rs.
            self._upstream_server = server
            self.send_response(code)
            self.send_header("Content-Type", ctype or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The page aborts superseded fetches; a closed client socket is not an error here.
        import sys
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class DevServer:
    def __init__(self, upstream, port=0, static_root=STATIC):
        self.httpd = _Server(
            ("127.0.0.1", port), make_handler(upstream.rstrip("/"), static_root))
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def start(upstream, port=0, static_root=STATIC):
    srv = DevServer(upstream, port, static_root)
    srv.thread.start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", default="http://127.0.0.1:8082", help="scheduler base URL")
    ap.add_argument("--port", type=int, default=8090)
    args = ap.parse_args()
    srv = DevServer(args.upstream, args.port)
    print("serving %s/static/visualiser/index.html -> %s" % (srv.url, args.upstream), flush=True)
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
