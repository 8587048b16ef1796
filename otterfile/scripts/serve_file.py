"""Serve one file over HTTP for as long as stdin stays open (build(on=..., via="url")).

Run on the build host as `python3 -c TEXT FILE ADDRESS` (standard library only). It listens
on ADDRESS only (empty: the address of the default route, the one the targets reach the host
at), on a free port, under a path made here that nobody else is told (so it is never on a
command line); GET or HEAD of that path sends the file, anything else is 404, nothing lists.
It prints `otter-serving address=A port=P path=/TOKEN` once it listens, and stops when its
stdin ends: otter closing it, or otter's connection going away however otter ended.
"""
import hmac
import http.server
import os
import secrets
import shutil
import signal
import socket
import sys
import threading

PROBES = (("192.0.2.1", socket.AF_INET), ("2001:db8::1", socket.AF_INET6))  # documentation


def default_address() -> str:
    """The local address of the default route (a UDP connect sends nothing)."""
    for probe, family in PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                return str(sock.getsockname()[0])
        except OSError:
            continue
    return socket.gethostbyname(socket.gethostname())


def handler(file: str, path: str) -> "type[http.server.BaseHTTPRequestHandler]":
    """The request handler: `path` sends `file`, every other path is 404."""
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version, sys_version = "otter", ""

        def do_GET(self) -> None:
            self.answer(send=True)

        def do_HEAD(self) -> None:
            self.answer(send=False)

        def answer(self, send: bool) -> None:
            if not hmac.compare_digest(self.path.encode(), path.encode()):
                self.send_error(404)
                return
            with open(file, "rb") as source:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(os.fstat(source.fileno()).st_size))
                self.end_headers()
                if send:
                    shutil.copyfileobj(source, self.wfile, 256 * 1024)

        def log_message(self, *_: object) -> None:  # stdout is otter's; nothing to say per request
            pass
    return Handler


def listen(address: str, handler_class: "type[http.server.BaseHTTPRequestHandler]",
           ) -> http.server.ThreadingHTTPServer:
    """A server bound to `address` on a free port (an IPv6 address binds as IPv6)."""
    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        daemon_threads = True
    return Server((address, 0), handler_class)


def main(argv: "list[str]") -> int:
    file, address = argv[0], argv[1] if len(argv) > 1 else ""
    if not os.path.isfile(file):
        sys.stderr.write("otter: no file %s\n" % file)
        return 3
    path = "/" + secrets.token_urlsafe(32)
    try:
        address = str(socket.getaddrinfo(address or default_address(), None)[0][4][0])
        server = listen(address, handler(file, path))
    except OSError as error:
        sys.stderr.write("otter: cannot listen on %s: %s\n"
                         % (address or "the default route's address", error.strerror or error))
        return 5
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    threading.Thread(target=watch, args=(server,), daemon=True).start()
    print("otter-serving address=%s port=%d path=%s" % (address, server.server_address[1], path),
          flush=True)
    server.serve_forever()
    server.server_close()
    return 0


def watch(server: http.server.ThreadingHTTPServer) -> None:
    """Stop the server once stdin ends (nothing is ever sent on it)."""
    while sys.stdin.buffer.read(4096):
        pass
    server.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
