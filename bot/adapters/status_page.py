"""Local status page: the login QR code, then the bot's state; ``/healthz`` and ``/metrics``.

Served by the stdlib ``http.server`` on the configured address (127.0.0.1 by default; reach it
through an SSH tunnel). The page loads nothing from other sites (a strict CSP enforces it), so
the login QR never leaves the machine.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST

from bot.errors import LocalError

log = logging.getLogger(__name__)

PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>wechat-vision-bot</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.4em} dt{font-weight:600;margin-top:.6em} dd{margin:0}
#qr{width:280px;height:280px;image-rendering:pixelated;border:1px solid #ccc}
.bad{color:#b00} .ok{color:#070}
</style></head><body>
<h1>wechat-vision-bot</h1>
<section id="login" hidden><p>Scan this QR code with WeChat to log in:</p>
<img id="qr" alt="WeChat login QR code"></section>
<section id="state"><dl>
<dt>Phase</dt><dd id="phase">…</dd>
<dt>Account</dt><dd id="nickname">–</dd>
<dt>Uptime</dt><dd id="uptime">–</dd>
<dt>Groups</dt><dd><ul id="groups"></ul></dd>
<dt>Pictures handled</dt><dd id="handled">0</dd>
<dt>Failures</dt><dd id="failures">0</dd>
<dt>TF Serving</dt><dd id="serving">–</dd>
</dl></section>
<script src="/app.js"></script>
</body></html>
"""

SCRIPT = """
let shownQr = -1;
function fmt(s){s=Math.floor(s);const d=Math.floor(s/86400),h=Math.floor(s%86400/3600),
m=Math.floor(s%3600/60);return (d?d+'d ':'')+h+'h '+m+'m '+(s%60)+'s';}
async function refresh(){
  try{
    const r=await fetch('/api/status',{cache:'no-store'}); const s=await r.json();
    document.getElementById('phase').textContent=s.phase+(s.paused?' (paused)':'');
    document.getElementById('nickname').textContent=s.nickname||'–';
    document.getElementById('uptime').textContent=fmt(s.uptime_s);
    const waiting=s.phase==='waiting_for_scan';
    document.getElementById('login').hidden=!waiting;
    if(waiting&&s.qr_version!==shownQr){
      document.getElementById('qr').src='/qr.png?v='+s.qr_version; shownQr=s.qr_version;}
    const ul=document.getElementById('groups'); ul.replaceChildren();
    for(const g of s.groups){const li=document.createElement('li');li.textContent=g;ul.append(li);}
    const c=s.counts; const handled=Object.entries(c).filter(([k])=>k!=='ignored')
      .reduce((a,[,v])=>a+v,0);
    document.getElementById('handled').textContent=handled;
    document.getElementById('failures').textContent=(c.failed||0)+(c.shed||0);
    const sv=document.getElementById('serving');
    sv.textContent=s.serving_ok?'answering':'not answering: '+s.serving_detail;
    sv.className=s.serving_ok?'ok':'bad';
  }catch(e){document.getElementById('phase').textContent='bot not reachable';}
}
refresh(); setInterval(refresh,1500);
"""

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; connect-src 'self'; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class Telemetry(Protocol):
    """What the page shows: the bot's telemetry (``bot.adapters.telemetry``)."""

    def snapshot(self) -> Any: ...

    def qr_png(self) -> tuple[int, bytes]: ...

    def metrics(self) -> bytes: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("status page: " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: object) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode(), "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        telemetry = self.server.telemetry
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/app.js":
            self._send(200, SCRIPT.encode(), "text/javascript; charset=utf-8")
        elif path == "/api/status":
            self._json(200, asdict(telemetry.snapshot()))
        elif path == "/qr.png":
            _, png = telemetry.qr_png()
            if png:
                self._send(200, png, "image/png")
            else:
                self._json(404, {"error": "no QR code: the bot is not waiting for a scan"})
        elif path == "/healthz":
            health = telemetry.snapshot().health
            down = [part for part, ok in health.items() if not ok]
            self._json(200 if not down else 503, {"ok": not down, **health, "down": down})
        elif path == "/metrics":
            self._send(200, telemetry.metrics(), CONTENT_TYPE_LATEST)
        else:
            self._json(404, {"error": f"no page {path}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        super().__init__(address, _Handler)


class StatusServer:
    def __init__(self, address: tuple[str, int], telemetry: Telemetry) -> None:
        try:
            self._server = _Server(address, telemetry)
        except OSError as exc:
            host, port = address
            raise LocalError(
                f"cannot serve the status page on {host}:{port} ({exc.strerror}); "
                "choose another [status] listen address"
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="status-page", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
