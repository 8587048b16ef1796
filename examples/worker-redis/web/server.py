"""The web app: / shows the schema version the migration set and the jobs the worker did."""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from resp import command


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = "ok"
        else:
            try:
                body = f"schema={command('GET', 'schema')} jobs={command('GET', 'jobs')}"
            except OSError as error:
                body = f"redis unreachable: {error}"
        data = (body + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
