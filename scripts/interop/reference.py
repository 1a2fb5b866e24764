"""The models' own answers, computed directly in TensorFlow (no server): ground truth.

For every model and picture it feeds what that model expects:
  base64-text models: web-safe base64 text of the picture as PNG (the file's own bytes for
                      a PNG file; a JPEG file is decoded by Pillow and re-encoded as PNG,
                      which is what a client configured with `[images] format = "png"`
                      sends). aidog_jpeg is also fed the JPEG file's own bytes ("as_jpeg").
  float/logits models: Pillow RGB pixels / 255, resized in TF with the same
                      resize_bilinear the seed graph uses when the picture is not 299x299.
Also records TF facts the lead asked about (decode_png on JPEG bytes, padding, standard
vs web-safe alphabet, rank-1 input) with TF's exact messages.

Usage: python reference.py WORK_DIR   (reads WORK_DIR/models, WORK_DIR/pictures;
                                       writes WORK_DIR/expected.json)
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pictures import PICTURES

SIZE = 299


class Loaded:
    """A SavedModel loaded the way TF Serving and STFS do: a v1 Session over its graph."""

    def __init__(self, path: str) -> None:
        self.graph = tf.Graph()
        self.sess = tf.compat.v1.Session(graph=self.graph)
        meta = tf.compat.v1.saved_model.loader.load(self.sess, ["serve"], path)
        self.sig = meta.signature_def["serving_default"]

    def run(self, value) -> dict[str, np.ndarray]:
        (inp,) = self.sig.inputs.values()
        names = {k: v.name for k, v in self.sig.outputs.items()}
        out = self.sess.run(list(names.values()), feed_dict={inp.name: value})
        return dict(zip(names.keys(), out, strict=True))


def png_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def float_batch(path: str) -> np.ndarray:
    arr = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
    if arr.shape[:2] != (SIZE, SIZE):
        with tf.Graph().as_default(), tf.compat.v1.Session() as s:
            arr = s.run(tf.compat.v1.image.resize_bilinear(arr[None], tf.constant([SIZE, SIZE])))[0]
    return arr[None]


def summary(vec: np.ndarray, *, logits: bool) -> dict:
    v = vec.astype(np.float64)
    order = np.argsort(-v)
    if logits:
        p = np.exp(v - v.max())
        p /= p.sum()
    else:
        p = v
    return {
        "top1": int(order[0]),
        "top2": int(order[1]),
        "p_top1": round(float(p[order[0]]), 6),
        "p_top2": round(float(p[order[1]]), 6),
        "margin_ratio": round(float(p[order[0]] / max(p[order[1]], 1e-30)), 4),
        "top5": [int(i) for i in order[:5]],
    }


def core_message(message: str) -> str:
    """TF's C++ status text, without the Python "Graph execution error" preamble."""
    marker = message.rfind("\nNode: '")
    if marker >= 0:
        message = message[message.index("\n", marker + 1) + 1 :]
    return message


def tf_error(fn) -> str:
    try:
        fn()
    except tf.errors.OpError as exc:
        return f"{type(exc).__name__}: {core_message(exc.message)}"
    return "no error"


def main() -> int:
    work = sys.argv[1]
    models_dir = os.path.join(work, "models")
    pics = [os.path.join(work, "pictures", p[0]) for p in PICTURES]
    result: dict = {"tensorflow": tf.__version__, "models": {}, "facts": {}}
    loaded = {}
    for name in ["aidog_b64", "aidog_b64_tf2", "aidog_jpeg", "aidog_float", "aidog_logits"]:
        loaded[name] = Loaded(os.path.join(models_dir, name, "1"))

    for name, model in loaded.items():
        per_pic = {}
        for path in pics:
            pic = os.path.basename(path)
            t0 = time.perf_counter()
            if name in ("aidog_float", "aidog_logits"):
                out = model.run(float_batch(path))
            else:
                text = base64.urlsafe_b64encode(png_bytes(path)).decode("ascii")
                out = model.run(text)
            (vec,) = out.values()
            row = summary(vec[0], logits=(name == "aidog_logits"))
            row["ms"] = round((time.perf_counter() - t0) * 1000, 1)
            if name == "aidog_jpeg":
                raw = Path(path).read_bytes()
                (v2,) = model.run(base64.urlsafe_b64encode(raw).decode("ascii")).values()
                row["as_file_bytes"] = summary(v2[0], logits=False)
            per_pic[pic] = row
        result["models"][name] = per_pic

    # Facts about the seed graph (aidog_b64 = decode_png; aidog_jpeg = decode_image).
    jpg = next(p for p in pics if p.endswith(".jpg"))
    jpg_bytes = Path(jpg).read_bytes()
    png = png_bytes(pics[0])
    b64m = loaded["aidog_b64"]
    facts = result["facts"]
    facts["decode_png_on_jpeg_bytes"] = tf_error(
        lambda: b64m.run(base64.urlsafe_b64encode(jpg_bytes).decode())
    )
    (v_jpg,) = b64m.run(base64.urlsafe_b64encode(jpg_bytes).decode()).values()
    facts["decode_png_on_jpeg_bytes_top1"] = int(np.argmax(v_jpg[0]))
    facts["decode_png_on_png_of_same_jpeg_top1"] = result["models"]["aidog_b64"][
        os.path.basename(jpg)
    ]["top1"]
    with tf.Graph().as_default(), tf.compat.v1.Session() as s:
        facts["decode_jpeg_op_on_png_bytes"] = tf_error(
            lambda: s.run(tf.io.decode_jpeg(tf.constant(png), channels=3))
        )
        gif = io.BytesIO()
        Image.open(pics[0]).save(gif, "GIF")
        facts["decode_png_op_on_gif_bytes"] = tf_error(
            lambda: s.run(tf.io.decode_png(tf.constant(gif.getvalue()), channels=3))
        )
        facts["decode_png_op_on_text"] = tf_error(
            lambda: s.run(tf.io.decode_png(tf.constant(b"hello"), channels=3))
        )
    std = base64.b64encode(png).decode()
    facts["standard_alphabet_has_plus_or_slash"] = ("+" in std) or ("/" in std)
    facts["standard_base64_text"] = tf_error(lambda: b64m.run(std))
    facts["websafe_no_padding"] = tf_error(
        lambda: b64m.run(base64.urlsafe_b64encode(png).decode().rstrip("="))
    )
    facts["raw_png_bytes_instead_of_text"] = tf_error(lambda: b64m.run(png))
    facts["rank1_list_of_one_text"] = tf_error(
        lambda: b64m.run([base64.urlsafe_b64encode(png).decode()])
    )
    facts["empty_string"] = tf_error(lambda: b64m.run(""))

    # TF2 cross-check: the TF2 SavedModel through tf.saved_model.load (eager path).
    m2 = tf.saved_model.load(os.path.join(models_dir, "aidog_b64_tf2", "1"))
    fn = m2.signatures["serving_default"]
    text = base64.urlsafe_b64encode(png).decode()
    eager = fn(image=tf.constant(text))["prediction"].numpy()[0]
    facts["tf2_eager_top1_first_picture"] = int(np.argmax(eager))

    # Twins must agree: softmax(logits) == prediction.
    diffs = []
    for path in pics:
        fb = float_batch(path)
        (p,) = loaded["aidog_float"].run(fb).values()
        (lg,) = loaded["aidog_logits"].run(fb).values()
        sm = np.exp(lg - lg.max(axis=1, keepdims=True))
        sm /= sm.sum(axis=1, keepdims=True)
        diffs.append(float(np.abs(sm - p).max()))
    facts["float_vs_softmax_of_logits_max_abs_diff"] = max(diffs)

    with open(os.path.join(work, "expected.json"), "w") as fh:
        json.dump(result, fh, indent=1, ensure_ascii=False)
    print(f"{'model':<15}" + "".join(f"{os.path.basename(p)[:13]:>15}" for p in pics))
    for name, per_pic in result["models"].items():
        cells = "".join(
            f"{r['top1']:>6} ({r['p_top1']:.2f}/{r['p_top2']:.2f})"[:15].rjust(15)
            for r in per_pic.values()
        )
        print(f"{name:<15}{cells}")
    for k, v in facts.items():
        print(f"fact {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
