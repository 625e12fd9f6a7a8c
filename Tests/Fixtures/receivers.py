#!/usr/bin/env python3
"""Local receivers for hooktop's end-to-end tests: an HTTP(S) webhook receiver (with optional client
certificates required) and a forward proxy (CONNECT tunnels and absolute-form requests).

Each prints `PORT <n>` on its first line once listening on 127.0.0.1, then one JSON line per request it sees.
It exits when its stdin closes (the test that started it ends) or on SIGTERM.
"""
import argparse
import json
import select
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def emit(record):
    with lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 204
    # Requests answered 500 before `status` is answered (a destination that comes back).
    fail_first = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        peer = None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                peer = dict(item[0] for item in cert.get("subject", ()))
        emit({"kind": "request", "at": time.time(), "client_port": self.client_address[1], "path": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()],
              "body": body.decode("utf-8", "replace"), "client_certificate": peer})
        status = self.status
        with lock:
            if Receiver.fail_first > 0:
                Receiver.fail_first -= 1
                status = 500
        self.send_response(status)
        self.send_header("content-length", "2" if status != 204 else "0")
        self.end_headers()
        if status != 204:
            self.wfile.write(b"ok")


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_CONNECT(self):
        emit({"kind": "connect", "target": self.path, "at": time.time(), "client_port": self.client_address[1],
              "proxy_authorization": self.headers.get("proxy-authorization")})
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError as error:
            self.send_error(502, str(error))
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True

    def do_POST(self):
        emit({"kind": "forward", "target": self.path,
              "proxy_authorization": self.headers.get("proxy-authorization")})
        from urllib.parse import urlsplit
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        try:
            upstream = socket.create_connection((url.hostname, url.port or 80), timeout=10)
        except OSError as error:
            self.send_error(502, str(error))
            return
        with upstream:
            lines = ["POST %s HTTP/1.1" % (url.path or "/")]
            for name, value in self.headers.items():
                if name.lower() not in ("proxy-authorization", "proxy-connection", "connection"):
                    lines.append("%s: %s" % (name, value))
            lines.append("connection: close")
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            answer = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        self.send_response(status)
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                self.send_header(name, value.strip())
        self.send_header("content-length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)


class Server(ThreadingHTTPServer):
    """Each connection's TLS handshake runs in that connection's thread, not in the accepting one: a slow or failing
    handshake (a client without a certificate) must not hold up the connections behind it."""

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                request.close()
                return
        super().finish_request(request, client_address)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["receiver", "proxy"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--client-ca", help="require a client certificate signed by this CA")
    parser.add_argument("--status", type=int, default=204)
    parser.add_argument("--fail-first", type=int, default=0, help="answer the first N requests with 500")
    options = parser.parse_args()
    Receiver.fail_first = options.fail_first

    handler = Proxy if options.mode == "proxy" else Receiver
    Receiver.status = options.status
    server = Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if options.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options.cert, options.key)
        if options.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(options.client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    emit_port = "PORT %d\n" % server.server_address[1]
    sys.stdout.write(emit_port)
    sys.stdout.flush()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Ends with the test: when stdin closes (or reaches end of file at once, as /dev/null does) it waits for SIGTERM.
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
