"""What the status page serves as is: the page, its script, and the headers of every answer
(``bot.adapters.status_page`` serves them)."""

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
<dt>Audit log</dt><dd id="audit">–</dd>
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
    const phases={waiting_for_phone:'waiting for the phone to confirm the login',
      waiting_for_scan:'waiting for the QR code to be scanned'};
    document.getElementById('phase').textContent=(phases[s.phase]||s.phase)+
      (s.paused?' (paused)':'');
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
    const au=document.getElementById('audit');
    au.textContent=s.audit_detail||'writing';
    au.className=s.audit_detail?'bad':'ok';
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
