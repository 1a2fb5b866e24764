"""Plain-HTTP ground truth: what each real server answers, next to the model's own top-1.

Talks to the servers with `requests` only (no bot code), records every request and answer
(long strings and tensors abbreviated), and checks the server's top-1 against the top-1
computed directly in TF (WORK/expected.json from reference.py).

Usage: python probe.py WORK --tfs URL --stfs URL --stfs-b64 URL --stfs-auth URL --stfs-tf2 URL
Writes WORK/report/http.md and WORK/report/http.json; exit 1 if a top-1 disagrees.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pictures import PICTURES

SIZE = 299


def websafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def std(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_of(path: str) -> bytes:
    data = Path(path).read_bytes()
    if data.startswith(b"\x89PNG"):
        return data
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def float_image(path: str) -> list:
    img = Image.open(path).convert("RGB")
    if img.size != (SIZE, SIZE):
        img = img.resize((SIZE, SIZE), Image.BILINEAR)
    return (np.asarray(img, np.float32) / 255.0).round(6).tolist()


def shorten(v, depth: int = 0):
    if isinstance(v, float):
        return float(f"{v:.6g}")
    if isinstance(v, str):
        return v if len(v) <= 400 else f"{v[:40]}…<{len(v)} chars>"
    if isinstance(v, list):
        if len(v) == SIZE and isinstance(v[0], list):
            return f"<{SIZE}x{SIZE}x3 floats>"
        if len(v) > 6 and all(isinstance(x, (int, float)) for x in v):
            return [
                *(float(f"{x:.6g}") if isinstance(x, float) else x for x in v[:3]),
                f"… {len(v)} values, argmax {int(np.argmax(v))}",
            ]
        return [shorten(x, depth + 1) for x in v]
    if isinstance(v, dict):
        return {k: shorten(x, depth + 1) for k, x in v.items()}
    return v


def vector_of(body) -> list | None:
    """Find the (1,120) / (120,) score vector in any of the servers' answer shapes."""
    if isinstance(body, dict):
        for key in ("predictions", "outputs", "prediction", "output_0"):
            if key in body:
                return vector_of(body[key])
        if len(body) == 1:
            return vector_of(next(iter(body.values())))
        return None
    if isinstance(body, list) and body:
        if isinstance(body[0], list):
            return vector_of(body[0])
        if len(body) == 120:
            return body
    return None


class Recorder:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.session = requests.Session()

    def call(
        self,
        server: str,
        title: str,
        method: str,
        url: str,
        *,
        json_body=None,
        data=None,
        headers=None,
        auth=None,
        expect_top1: int | None = None,
    ) -> dict:
        kwargs: dict = {"timeout": 120, "headers": headers or {}, "auth": auth}
        sent = 0
        if json_body is not None:
            text = json.dumps(json_body)
            kwargs["data"] = text.encode()
            kwargs["headers"].setdefault("Content-Type", "application/json")
            sent = len(text)
        elif data is not None:
            kwargs["data"] = data
            sent = len(data)
        t0 = time.perf_counter()
        try:
            r = self.session.request(method, url, **kwargs)
            status, ctype, text = r.status_code, r.headers.get("Content-Type", ""), r.text
        except requests.RequestException as exc:
            status, ctype, text = 0, "", f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000
        try:
            body = json.loads(text)
            shown = shorten(body)
        except ValueError:
            body = None
            shown = text if len(text) < 1500 else text[:1500] + "…"
        row = {
            "server": server,
            "title": title,
            "method": method,
            "url": url,
            "request": shorten(json_body)
            if json_body is not None
            else (shorten(data.decode("utf-8", "replace")) if isinstance(data, bytes) else data),
            "request_headers": kwargs["headers"],
            "bytes_sent": sent,
            "status": status,
            "content_type": ctype,
            "response": shown,
            "bytes_received": len(text),
            "ms": round(ms, 1),
        }
        if expect_top1 is not None:
            vec = vector_of(body)
            got = int(np.argmax(vec)) if vec is not None else None
            row.update(expected_top1=expect_top1, server_top1=got, agree=got == expect_top1)
        self.rows.append(row)
        flag = ""
        if "agree" in row:
            verdict = "OK" if row["agree"] else "MISMATCH"
            flag = f"  top-1 {row['server_top1']} vs model {expect_top1} {verdict}"
        print(f"[{server}] {title}: HTTP {status} {ms:.0f} ms{flag}", flush=True)
        return row


def probe_tfs(rec: Recorder, base: str, exp: dict, pics: list[str]) -> None:
    S = "tfs-compat"
    p1 = pics[0]
    text1 = websafe(png_of(p1))
    rec.call(S, "status", "GET", f"{base}/v1/models/aidog")
    rec.call(S, "metadata (seed-000 style)", "GET", f"{base}/v1/models/aidog/metadata")
    rec.call(S, "metadata (TF2 SavedModel)", "GET", f"{base}/v1/models/aidog_tf2/metadata")
    rec.call(S, "metadata (logits model)", "GET", f"{base}/v1/models/aidog_logits/metadata")
    for path in pics:
        pic = os.path.basename(path)
        t = websafe(png_of(path))
        rec.call(
            S,
            f"aidog columnar named, {pic}",
            "POST",
            f"{base}/v1/models/aidog:predict",
            json_body={"inputs": {"image": t}},
            expect_top1=exp["aidog_b64"][pic]["top1"],
        )
        rec.call(
            S,
            f"aidog_tf2 columnar named, {pic}",
            "POST",
            f"{base}/v1/models/aidog_tf2:predict",
            json_body={"inputs": {"image": t}},
            expect_top1=exp["aidog_b64_tf2"][pic]["top1"],
        )
        rec.call(
            S,
            f"aidog_jpeg, file bytes as text, {pic}",
            "POST",
            f"{base}/v1/models/aidog_jpeg:predict",
            json_body={"inputs": {"image": websafe(Path(path).read_bytes())}},
            expect_top1=exp["aidog_jpeg"][pic]["as_file_bytes"]["top1"],
        )
        fl = float_image(path)
        rec.call(
            S,
            f"aidog_float instances, {pic}",
            "POST",
            f"{base}/v1/models/aidog_float:predict",
            json_body={"instances": [fl]},
            expect_top1=exp["aidog_float"][pic]["top1"],
        )
        rec.call(
            S,
            f"aidog_logits instances, {pic}",
            "POST",
            f"{base}/v1/models/aidog_logits:predict",
            json_body={"instances": [fl]},
            expect_top1=exp["aidog_logits"][pic]["top1"],
        )
    e1 = exp["aidog_b64"][os.path.basename(p1)]["top1"]
    rec.call(
        S,
        "columnar bare value (single input)",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"inputs": text1},
        expect_top1=e1,
    )
    rec.call(
        S,
        "row form: instances [text] (rank 1)",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"instances": [text1]},
    )
    rec.call(
        S,
        "row form named: instances [{image: text}]",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"instances": [{"image": text1}]},
    )
    rec.call(
        S,
        "what the bot sent before: instances [{b64: std base64 of PNG}]",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"instances": [{"b64": std(png_of(p1))}]},
    )
    rec.call(
        S,
        "plain string, STANDARD alphabet base64 text",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"inputs": {"image": std(png_of(p1))}},
    )
    rec.call(
        S,
        "{b64: web-safe text} (b64 object with - or _)",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"inputs": {"image": {"b64": text1}}},
    )
    rec.call(
        S,
        "{b64: std base64 OF the web-safe text} (double-encoded)",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"inputs": {"image": {"b64": std(text1.encode())}}},
        expect_top1=e1,
    )
    jpg = next(p for p in pics if p.endswith(".jpg"))
    rec.call(
        S,
        "JPEG bytes as web-safe text to the decode_png graph",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"inputs": {"image": websafe(Path(jpg).read_bytes())}},
        expect_top1=exp["aidog_jpeg"][os.path.basename(jpg)]["as_file_bytes"]["top1"],
    )
    rec.call(
        S,
        "not a picture (text 'hello' as base64)",
        "POST",
        f"{base}/v1/models/aidog:predict",
        json_body={"inputs": {"image": websafe(b"hello")}},
    )
    rec.call(S, "unknown model status", "GET", f"{base}/v1/models/nope")
    rec.call(
        S,
        "unknown model predict",
        "POST",
        f"{base}/v1/models/nope:predict",
        json_body={"inputs": {"image": "x"}},
    )
    rec.call(S, "invalid JSON", "POST", f"{base}/v1/models/aidog:predict", data=b"{nope")
    rec.call(
        S,
        "float model given a string",
        "POST",
        f"{base}/v1/models/aidog_float:predict",
        json_body={"instances": ["x"]},
    )
    rec.call(S, "path outside /v1", "GET", f"{base}/")


def stfs_req(model: str, data: dict, **extra) -> dict:
    body = {"model_name": model, "model_version": 1, "signature_name": "serving_default"}
    body.update(extra)
    body["data"] = data
    return body


def probe_stfs(
    rec: Recorder, base: str, exp: dict, pics: list[str], server: str, b64_autoconvert: bool
) -> None:
    p1 = pics[0]
    n1 = os.path.basename(p1)
    text1 = websafe(png_of(p1))
    e1 = exp["aidog_b64"][n1]["top1"]
    rec.call(server, "health", "GET", f"{base}/health")
    rec.call(server, "model detail", "GET", f"{base}/v1/models/aidog")
    if not b64_autoconvert:
        rec.call(server, "model detail (float)", "GET", f"{base}/v1/models/aidog_float")
        rec.call(server, "model detail (logits)", "GET", f"{base}/v1/models/aidog_logits")
        rec.call(server, "all models", "GET", f"{base}/v1/models")
        rec.call(server, "unknown model detail", "GET", f"{base}/v1/models/nope")
        rec.call(server, "gen_json", "GET", f"{base}/v1/models/aidog/gen_json")
        rec.call(server, "TFS status URL on STFS", "GET", f"{base}/v1/models/aidog/metadata")
        rec.call(
            server,
            "TFS predict URL on STFS",
            "POST",
            f"{base}/v1/models/aidog:predict",
            json_body={"inputs": {"image": text1}},
        )
        for path in pics:
            pic = os.path.basename(path)
            rec.call(
                server,
                f"aidog scalar text, {pic}",
                "POST",
                f"{base}/",
                json_body=stfs_req("aidog", {"image": websafe(png_of(path))}),
                expect_top1=exp["aidog_b64"][pic]["top1"],
            )
        for path in pics[:2]:
            pic = os.path.basename(path)
            fl = float_image(path)
            rec.call(
                server,
                f"aidog_float, {pic}",
                "POST",
                f"{base}/",
                json_body=stfs_req("aidog_float", {"image": [fl]}),
                expect_top1=exp["aidog_float"][pic]["top1"],
            )
            rec.call(
                server,
                f"aidog_logits, {pic}",
                "POST",
                f"{base}/",
                json_body=stfs_req("aidog_logits", {"image": [fl]}),
                expect_top1=exp["aidog_logits"][pic]["top1"],
            )
        rec.call(
            server,
            "minimal body (only data; model 'default' absent)",
            "POST",
            f"{base}/",
            json_body={"data": {"image": text1}},
        )
        rec.call(
            server,
            "model_name only + data",
            "POST",
            f"{base}/",
            json_body={"model_name": "aidog", "data": {"image": text1}},
            expect_top1=e1,
        )
        rec.call(
            server,
            "model_version as string '1'",
            "POST",
            f"{base}/",
            json_body={"model_name": "aidog", "model_version": "1", "data": {"image": text1}},
            expect_top1=e1,
        )
        rec.call(
            server,
            "model_version 2 (absent)",
            "POST",
            f"{base}/",
            json_body={"model_name": "aidog", "model_version": 2, "data": {"image": text1}},
        )
        rec.call(
            server,
            "rank-1 list [text]",
            "POST",
            f"{base}/",
            json_body=stfs_req("aidog", {"image": [text1]}),
        )
        rec.call(
            server,
            "STANDARD alphabet text",
            "POST",
            f"{base}/",
            json_body=stfs_req("aidog", {"image": std(png_of(p1))}),
        )
        rec.call(
            server,
            "wrong input name",
            "POST",
            f"{base}/",
            json_body=stfs_req("aidog", {"images": text1}),
        )
        rec.call(server, "no data key", "POST", f"{base}/", json_body={"model_name": "aidog"})
        rec.call(
            server,
            "unknown model",
            "POST",
            f"{base}/",
            json_body=stfs_req("nope", {"image": text1}),
        )
        rec.call(
            server,
            "unknown signature",
            "POST",
            f"{base}/",
            json_body=stfs_req("aidog", {"image": text1}, signature_name="nope"),
        )
        rec.call(
            server,
            "invalid JSON (application/json)",
            "POST",
            f"{base}/",
            data=b"{nope",
            headers={"Content-Type": "application/json"},
        )
        rec.call(
            server,
            "text/plain body",
            "POST",
            f"{base}/",
            data=b"{}",
            headers={"Content-Type": "text/plain"},
        )
        rec.call(server, "no Content-Type", "POST", f"{base}/", data=b"{}")
        rec.call(
            server,
            "not a picture",
            "POST",
            f"{base}/",
            json_body=stfs_req("aidog", {"image": websafe(b"hello")}),
        )
        jpg = next(p for p in pics if p.endswith(".jpg"))
        rec.call(
            server,
            "JPEG bytes as text to decode_png graph",
            "POST",
            f"{base}/",
            json_body=stfs_req("aidog", {"image": websafe(Path(jpg).read_bytes())}),
            expect_top1=exp["aidog_jpeg"][os.path.basename(jpg)]["as_file_bytes"]["top1"],
        )
    rec.call(
        server,
        "{b64: web-safe text of PNG}",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": {"b64": text1}}),
    )
    rec.call(
        server,
        "{b64: b64 OF the web-safe text} (double-encoded)",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": {"b64": websafe(text1.encode())}}),
        expect_top1=e1 if b64_autoconvert else None,
    )
    rec.call(
        server,
        "plain web-safe text",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": text1}),
        expect_top1=e1,
    )


def probe_auth(rec: Recorder, base: str, exp: dict, pics: list[str], user: str, pw: str) -> None:
    S = "stfs-auth"
    text1 = websafe(png_of(pics[0]))
    e1 = exp["aidog_b64"][os.path.basename(pics[0])]["top1"]
    rec.call(S, "health (no auth needed)", "GET", f"{base}/health")
    rec.call(S, "model detail without credentials", "GET", f"{base}/v1/models/aidog")
    rec.call(
        S,
        "predict without credentials",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": text1}),
    )
    rec.call(
        S,
        "predict with wrong password",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": text1}),
        auth=(user, "wrong"),
    )
    rec.call(
        S,
        "predict with basic auth",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": text1}),
        auth=(user, pw),
        expect_top1=e1,
    )


def probe_tf2(rec: Recorder, base: str, pics: list[str], S: str, e1: int | None) -> None:
    text1 = websafe(png_of(pics[0]))
    rec.call(S, "first request (triggers model load)", "GET", f"{base}/health")
    rec.call(S, "model detail", "GET", f"{base}/v1/models/aidog")
    rec.call(
        S,
        "predict",
        "POST",
        f"{base}/",
        json_body=stfs_req("aidog", {"image": text1}),
        expect_top1=e1,
    )
    rec.call(S, "second request", "GET", f"{base}/health")


def write_md(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# Plain-HTTP probe of the real servers\n\n")
        for r in rows:
            fh.write(f"## [{r['server']}] {r['title']}\n\n")
            fh.write(f"`{r['method']} {r['url']}`  ")
            fh.write(
                f"→ **HTTP {r['status']}** `{r['content_type']}`, {r['ms']} ms, "
                f"{r['bytes_sent']:,} B sent, {r['bytes_received']:,} B received"
            )
            if "agree" in r:
                fh.write(
                    f"; server top-1 {r['server_top1']}, model's own top-1 "
                    f"{r['expected_top1']}: {'AGREE' if r['agree'] else 'MISMATCH'}"
                )
            fh.write("\n\n")
            if r["request"] is not None:
                fh.write(
                    "request:\n```json\n" + json.dumps(r["request"], ensure_ascii=False) + "\n```\n"
                )
            resp = r["response"]
            resp_text = resp if isinstance(resp, str) else json.dumps(resp, ensure_ascii=False)
            fh.write("response:\n```\n" + resp_text.rstrip() + "\n```\n\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--tfs")
    ap.add_argument("--stfs")
    ap.add_argument("--stfs-b64")
    ap.add_argument("--stfs-auth")
    ap.add_argument("--stfs-tf2")
    ap.add_argument("--stfs-tf2-sorted")
    ap.add_argument("--auth-user", default="bot")
    ap.add_argument("--auth-password", default="")
    a = ap.parse_args()
    exp = json.loads(Path(a.work, "expected.json").read_text())["models"]
    pics = [os.path.join(a.work, "pictures", p[0]) for p in PICTURES]
    rec = Recorder()
    if a.tfs:
        probe_tfs(rec, a.tfs, exp, pics)
    if a.stfs:
        probe_stfs(rec, a.stfs, exp, pics, "stfs", b64_autoconvert=False)
    if a.stfs_b64:
        probe_stfs(rec, a.stfs_b64, exp, pics, "stfs-b64auto", b64_autoconvert=True)
    if a.stfs_auth:
        probe_auth(rec, a.stfs_auth, exp, pics, a.auth_user, a.auth_password)
    if a.stfs_tf2:
        # Loads or not depending on upb's per-process map order: recorded, not judged.
        probe_tf2(rec, a.stfs_tf2, pics, "stfs-tf2model", None)
    if a.stfs_tf2_sorted:
        probe_tf2(rec, a.stfs_tf2_sorted, pics, "stfs-tf2model-init-op-first", None)
    out = os.path.join(a.work, "report")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "http.json"), "w") as fh:
        json.dump(rec.rows, fh, indent=1, ensure_ascii=False)
    write_md(os.path.join(out, "http.md"), rec.rows)
    checked = [r for r in rec.rows if "agree" in r]
    bad = [r for r in checked if not r["agree"]]
    print(
        f"probe: {len(checked) - len(bad)} of {len(checked)} server top-1s agree with the "
        f"model's own; report in {out}/http.md"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
