"""Build small deterministic SavedModels with real TensorFlow (run in the tf venv).

Every model shares one tiny "colour histogram + conv" net whose weights are random but
fixed (numpy seed), so the top-1 depends on the picture and is the same on every run.

    models/aidog_b64/1       seed-000 style, TF1 graph (tf.compat.v1 SavedModelBuilder):
                             input `image` = tf.placeholder(tf.string) with NO shape holding
                             web-safe base64 text of a PNG; decode_base64 -> decode_png(3) ->
                             convert_image_dtype -> resize_bilinear 299 -> net -> softmax
                             output `prediction` (-1, 120)
    models/aidog_b64_tf2/1   the same graph saved the TF2 way (tf.function with
                             TensorSpec(shape=None, tf.string), tf.saved_model.save): has the
                             extra `__saved_model_init_op` signature
    models/aidog_b64_tf2_sorted/1  the same, saved_model.pb re-serialised with sorted map
                             keys (`__saved_model_init_op` first): STFS cannot load it
    models/aidog_jpeg/1      as aidog_b64 but decode_image (takes PNG *and* JPEG)
    models/aidog_float/1     float twin: input `image` (-1,299,299,3) in [0,1] -> `prediction`
    models/aidog_logits/1    logits-only twin of aidog_float: output `output_0` (-1,120), raw
                             logits (what a Keras model exported without softmax gives)

Usage: python build_models.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

SEED = 1234
NUM_CLASSES = 120
SIZE = 299
BINS = 8


def weights() -> dict[str, np.ndarray]:
    rng = np.random.RandomState(SEED)
    return {
        "w1": rng.normal(0.0, 0.6, size=(3, 3, 3, 8)).astype(np.float32),
        "b1": rng.normal(0.0, 0.1, size=(8,)).astype(np.float32),
        "w2": rng.normal(0.0, 1.0, size=(8 + 3 * BINS, NUM_CLASSES)).astype(np.float32),
        "b2": rng.normal(0.0, 0.2, size=(NUM_CLASSES,)).astype(np.float32),
        "centers": np.linspace(0.0625, 0.9375, BINS).astype(np.float32),
    }


def net_logits(x: tf.Tensor, w: dict[str, np.ndarray]) -> tf.Tensor:
    """x: float32 (N, 299, 299, 3) in [0, 1] -> logits (N, 120)."""
    pooled = tf.nn.avg_pool2d(x, ksize=13, strides=13, padding="VALID")  # (N, 23, 23, 3)
    conv = tf.nn.relu(
        tf.nn.conv2d(pooled, tf.constant(w["w1"]), strides=1, padding="VALID")
        + tf.constant(w["b1"])
    )  # (N, 21, 21, 8)
    f_conv = tf.reduce_mean(conv, axis=[1, 2])  # (N, 8)
    f_conv = (f_conv - tf.reduce_mean(f_conv, axis=1, keepdims=True)) * 4.0
    # Soft colour histogram: BINS Gaussian bins per channel, normalised and centred.
    diff = tf.expand_dims(pooled, -1) - tf.constant(w["centers"])  # (N, 23, 23, 3, BINS)
    hist = tf.reduce_mean(tf.exp(-tf.square(diff) / (2.0 * 0.09**2)), axis=[1, 2])
    hist = hist / (tf.reduce_sum(hist, axis=-1, keepdims=True) + 1e-6) - 1.0 / BINS
    f_hist = tf.reshape(hist, [-1, 3 * BINS]) * 12.0
    feats = tf.concat([f_conv, f_hist], axis=1)
    return tf.matmul(feats, tf.constant(w["w2"])) + tf.constant(w["b2"])


def decode_to_batch(b64_text: tf.Tensor, *, any_format: bool) -> tf.Tensor:
    """Seed 000's input layer (TF1 spelling via tf.compat.v1)."""
    raw = tf.io.decode_base64(b64_text)
    if any_format:
        img = tf.io.decode_image(raw, channels=3, expand_animations=False)
    else:
        img = tf.io.decode_png(raw, channels=3)
    as_float = tf.image.convert_image_dtype(img, tf.float32)
    four_d = tf.expand_dims(as_float, 0)
    resized = tf.compat.v1.image.resize_bilinear(four_d, tf.constant([SIZE, SIZE], tf.int32))
    # Seed 000 imported the retrained graph with input_map onto its (-1,299,299,3)
    # placeholder; placeholder_with_default keeps that batch-polymorphic static shape.
    return tf.compat.v1.placeholder_with_default(resized, shape=[None, SIZE, SIZE, 3])


def save_tf1(path: str, build) -> None:
    """build(w) -> (inputs dict, outputs dict) inside a fresh graph; saved TF1-style."""
    g = tf.Graph()
    with g.as_default():
        inputs, outputs = build(weights())
        with tf.compat.v1.Session(graph=g) as sess:
            builder = tf.compat.v1.saved_model.builder.SavedModelBuilder(path)
            sig = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
                inputs=inputs, outputs=outputs
            )
            builder.add_meta_graph_and_variables(
                sess,
                [tf.compat.v1.saved_model.tag_constants.SERVING],
                signature_def_map={"serving_default": sig},
                strip_default_attrs=True,
            )
            builder.save()


def build_b64(w, *, any_format: bool = False):
    x = tf.compat.v1.placeholder(tf.string, name="base64_string")  # no shape: unknown rank
    logits = net_logits(decode_to_batch(x, any_format=any_format), w)
    prob = tf.nn.softmax(logits, name="final_result")
    return {"image": x}, {"prediction": prob}


def build_float(w):
    x = tf.compat.v1.placeholder(tf.float32, shape=[None, SIZE, SIZE, 3], name="Placeholder")
    prob = tf.nn.softmax(net_logits(x, w), name="final_result")
    return {"image": x}, {"prediction": prob}


def build_logits(w):
    x = tf.compat.v1.placeholder(tf.float32, shape=[None, SIZE, SIZE, 3], name="Placeholder")
    logits = tf.identity(net_logits(x, w), name="logits")
    return {"image": x}, {"output_0": logits}


def save_tf2_b64(path: str) -> None:
    w = weights()

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(shape=None, dtype=tf.string, name="image")])
        def serve(self, image):
            raw = tf.io.decode_base64(image)
            img = tf.io.decode_png(raw, channels=3)
            x = tf.image.convert_image_dtype(img, tf.float32)
            x = tf.compat.v1.image.resize_bilinear(
                tf.expand_dims(x, 0), tf.constant([SIZE, SIZE], tf.int32)
            )
            x = tf.compat.v1.placeholder_with_default(x, shape=[None, SIZE, SIZE, 3])
            return {"prediction": tf.nn.softmax(net_logits(x, w))}

    m = Module()
    tf.saved_model.save(m, path, signatures={"serving_default": m.serve})


def save_tf2_sorted(path: str) -> None:
    """The TF2 model with saved_model.pb re-serialised deterministically (map keys sorted),
    so `__saved_model_init_op` comes before `serving_default` -- the order in which STFS's
    init_model_signature() trips (other writers / the pure-python protobuf give it too)."""
    from tensorflow.core.protobuf import saved_model_pb2

    save_tf2_b64(path)
    pb = os.path.join(path, "saved_model.pb")
    sm = saved_model_pb2.SavedModel()
    with open(pb, "rb") as fh:
        sm.ParseFromString(fh.read())
    with open(pb, "wb") as fh:
        fh.write(sm.SerializeToString(deterministic=True))


MODELS = {
    "aidog_b64": lambda p: save_tf1(p, build_b64),
    "aidog_jpeg": lambda p: save_tf1(p, lambda w: build_b64(w, any_format=True)),
    "aidog_float": lambda p: save_tf1(p, build_float),
    "aidog_logits": lambda p: save_tf1(p, build_logits),
    "aidog_b64_tf2": save_tf2_b64,
    "aidog_b64_tf2_sorted": save_tf2_sorted,
}


def main() -> int:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in MODELS.items():
        path = os.path.join(out, name, "1")
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        make(path)
        print(f"built {path}")
    info = {"tensorflow": tf.__version__, "seed": SEED, "models": sorted(MODELS)}
    with open(os.path.join(out, "BUILD_INFO.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
