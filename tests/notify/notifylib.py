"""Receivers for the notification tests, all on free loopback ports and stopped after
each test: an SMTP server (aiosmtpd) that keeps every message, a UDP listener that keeps
every DogStatsD datagram, and an HTTP endpoint standing in for Datadog's event API (the
real luigid posts its events there; luigid-rs sends them as DogStatsD events).

A missing package fails the test when CI=true and skips it otherwise."""
import email
import importlib
import email.policy
import http.server
import json
import os
import socket
import threading
import time

import pytest


def need(module):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI", "") == "true":
            pytest.fail("%s is required (make venv installs it): %s" % (module, e))
        pytest.skip("%s not installed" % module)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, what="condition"):
    """Poll `pred` until it returns something truthy, with a bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class Mail:
    """One received message: the envelope and the parsed MIME message."""

    def __init__(self, mail_from, rcpt_tos, data):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.msg = email.message_from_bytes(data, policy=email.policy.default)

    def text_parts(self):
        return [p for p in self.msg.walk() if p.get_content_maintype() == "text"]

    def summary(self):
        """What must match between luigid and luigid-rs (no dates, ids or boundaries)."""
        parts = self.text_parts()
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": sorted(self.rcpt_tos),
            "subject": str(self.msg["Subject"]),
            "from": str(self.msg["From"]),
            "to": sorted(a.strip() for a in str(self.msg["To"]).split(",")),
            "content_type": self.msg.get_content_type(),
            "parts": [(p.get_content_type(), p.get_content_charset(), p.get_content()) for p in parts],
        }


def self_signed_cert(directory):
    """A throwaway certificate and key for the TLS tests (openssl CLI)."""
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        if os.environ.get("CI", "") == "true":
            pytest.fail("the openssl command is required for the SMTP TLS tests")
        pytest.skip("openssl not installed")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


class SmtpSink:
    """aiosmtpd on a free port. `tls`: None, "starttls" (required) or "smtps" (implicit
    TLS); `login`: (user, password) the server requires."""

    def __init__(self, tls=None, cert=None, login=None):
        need("aiosmtpd")
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.mails = []
        self.sessions = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink._lock:
                    sink.mails.append(Mail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content))
                    tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
                    sink.sessions.append({"tls": tls, "authenticated": bool(session.authenticated)})
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = login is not None and (auth_data.login.decode(), auth_data.password.decode()) == tuple(login)
            return AuthResult(success=ok)

        kwargs = {}
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*cert)
            if tls == "starttls":
                kwargs.update(tls_context=ctx, require_starttls=True)
            else:
                kwargs.update(ssl_context=ctx)
        if login:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=(tls == "starttls"))
        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def received(self):
        with self._lock:
            return list(self.mails)

    def stop(self):
        self._controller.stop()


class UdpSink:
    """Keeps DogStatsD datagrams (one per packet; a packet may hold several lines)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = []
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                for line in data.decode("utf-8", "replace").split("\n"):
                    if line:
                        self.datagrams.append(line)

    def received(self):
        with self._lock:
            return list(self.datagrams)

    def stop(self):
        self._stop = True
        self._thread.join(timeout=5)
        self.sock.close()


class EventApiSink:
    """Datadog's event API as the `datadog` package calls it (POST .../api/v1/events)."""

    def __init__(self):
        self.events = []
        lock = threading.Lock()
        self._lock = lock
        events = self.events

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if "/events" in self.path:
                    with lock:
                        events.append(json.loads(body.decode("utf-8")))
                out = b'{"status": "ok"}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def received(self):
        with self._lock:
            return list(self.events)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def split_datagram(line):
    """A DogStatsD line as (fields before the tags, tags); container ids (|c:) dropped."""
    parts = line.split("|")
    tags = []
    rest = []
    for p in parts:
        if p.startswith("#"):
            tags = p[1:].split(",") if len(p) > 1 else []
        elif p.startswith("c:") or p.startswith("card:"):
            continue
        else:
            rest.append(p)
    return rest, tags


def parse_statsd(lines):
    """Metrics as (name, type, value, tags) and events as dicts, the client's own
    telemetry (datadog.dogstatsd.*) left out."""
    metrics, events = [], []
    for line in lines:
        if line.startswith("_e{"):
            head, _, body = line.partition(":")
            tlen, xlen = (int(x) for x in head[3:-1].split(","))
            raw = body.encode("utf-8")
            title = raw[:tlen].decode("utf-8")
            text = raw[tlen + 1:tlen + 1 + xlen].decode("utf-8")
            rest, tags = split_datagram(raw[tlen + 1 + xlen:].decode("utf-8"))
            ev = {"title": title, "text": text, "tags": tags}
            for p in rest:
                if p.startswith("p:"):
                    ev["priority"] = p[2:]
                elif p.startswith("t:"):
                    ev["alert_type"] = p[2:]
            events.append(ev)
            continue
        rest, tags = split_datagram(line)
        name, _, value = rest[0].partition(":")
        if name.startswith("datadog."):
            continue
        metrics.append((name, rest[1], value, tags))
    return metrics, events
