/**
 * The programs the root demo's containers run: the containers lecture's web
 * application as small Python servers (python3 is on every machine the
 * demo runs on, and containers here share the host's filesystem, so there
 * is no image to put them in). `writeDemoApps` writes them to a fresh
 * directory the demo removes afterwards.
 *
 *   web    :80    HTML page built from api's answer
 *   api    :8000  /items — asks db (by name) for the items, cache for a hit count
 *   db     :5432  line protocol: `GET key`
 *   cache  :11211 UDP: `INCR key` → count
 *   worker        fetches http://internet/ every 2 s (through the router's NAT)
 *   internet :80  says which address it sees the client as
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DB = `
import socketserver
DATA = {"items": '["apple", "pear", "plum"]'}
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            words = line.decode(errors="replace").split()
            if len(words) == 2 and words[0] == "GET":
                self.wfile.write((DATA.get(words[1], "") + "\\n").encode())
            else:
                self.wfile.write(b"ERR\\n")
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 5432), Handler).serve_forever()
`;

const CACHE = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 11211))
counts = {}
while True:
    data, peer = s.recvfrom(512)
    words = data.decode(errors="replace").split()
    if len(words) == 2 and words[0] == "INCR":
        counts[words[1]] = counts.get(words[1], 0) + 1
        s.sendto(str(counts[words[1]]).encode(), peer)
`;

const API = `
import http.server, json, socket
def db_get(key):
    with socket.create_connection(("db", 5432), timeout=5) as c:
        c.sendall(("GET %s\\n" % key).encode())
        return c.makefile().readline().strip()
def cache_incr(key):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for _ in range(3):
        try:
            s.sendto(("INCR %s" % key).encode(), ("cache", 11211))
            return int(s.recvfrom(64)[0])
        except OSError:
            pass
    return None
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/items":
            self.send_error(404)
            return
        body = json.dumps({"items": json.loads(db_get("items")), "hits": cache_incr("items"), "db": socket.gethostbyname("db")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
`;

const WEB = `
import http.server, json, urllib.request
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = json.load(urllib.request.urlopen("http://api:8000/items", timeout=10))
        items = "".join("<li>%s</li>" % i for i in data["items"])
        body = ("<h1>wirelab shop</h1><ul>%s</ul><p>%d visits, served through api from db at %s</p>\\n" % (items, data["hits"] or 0, data["db"])).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
`;

const INTERNET = `
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("you are %s\\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\\n" % (self.client_address[0], fmt % args))
        sys.stdout.flush()
http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
`;

/** Writes the demo's programs into a new temporary directory and returns it. */
export function writeDemoApps(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wirelab-demo-'));
  for (const [name, text] of Object.entries({ db: DB, cache: CACHE, api: API, web: WEB, internet: INTERNET })) {
    writeFileSync(join(dir, `${name}.py`), text.trimStart());
  }
  return dir;
}
