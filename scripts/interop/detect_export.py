"""Export an untrained TF Model Garden RetinaNet with Model Garden's own exporter (issue 18).

Not part of the test suite: it needs its own venv with ``tf-models-official`` (3.4 GB with
TensorFlow 2.20; there is no PyPI wheel of the Object Detection API, whose exporter is the
other convention the bot reads)::

    python3 -m venv /tmp/tfm && /tmp/tfm/bin/pip install tf-models-official==2.20.0
    /tmp/tfm/bin/python scripts/interop/detect_export.py OUT_DIR [--input-type image_bytes]
        [--size 256] [--normalized]
    saved_model_cli show --dir OUT_DIR/1 --tag_set serve --signature_def serving_default

The weights are random (no checkpoint is read), so the detections are noise; what counts is
the signature, exactly as ``official/vision/serving/export_saved_model.py`` writes it. The
SavedModel goes to OUT_DIR/1 (a TF Serving base path), the config to OUT_DIR/params.yaml.

Seen on 2026-12-04 (tf-models-official 2.20.0, ~100 s an export on the 2-core machine), the
three exports (image_tensor; image_bytes; image_bytes --normalized) served by the real-TF
server (``python -m tests.fakes.tfserving_tf --port P --model mg_tensor=OUT/image_tensor ...``)
and asked by the bot with ``labels/coco.csv``: ``check`` said "task detect (auto)", "TF Model
Garden's detection outputs (with image_info)", input "HxWx3 tensor of any size in input
'inputs' (uint8)" or "JPEG bytes as base64 in input 'inputs'", and its test picture went
through; ``classify`` on a squares photo answered "(nothing above [detect] min_score)", as an
untrained RetinaNet should (num_detections 0). The first predict takes ~30 s (TensorFlow
traces the graph), later ones ~5 s on CPU; the uint8 JSON body of a 640 px picture is 4.3 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--input-type", default="image_tensor", choices=["image_tensor", "image_bytes"])
    ap.add_argument("--size", type=int, default=256, help="input_image_size (a multiple of 128)")
    ap.add_argument("--batch-size", type=int, default=None, help="unset: -1, as the flag's default")
    ap.add_argument(
        "--normalized",
        action="store_true",
        help="export_config: normalised boxes, float classes and num_detections",
    )
    ap.add_argument("--experiment", default="retinanet_mobile_coco")
    args = ap.parse_args()

    from official.core import exp_factory  # the Model Garden venv only
    from official.vision import registry_imports  # noqa: F401  (registers the experiments)
    from official.vision.serving import export_saved_model_lib

    params = exp_factory.get_exp_config(args.experiment)
    params.task.model.input_size = [args.size, args.size, 3]
    if args.normalized:
        params.task.export_config.output_normalized_coordinates = True
        params.task.export_config.cast_num_detections_to_float = True
        params.task.export_config.cast_detection_classes_to_float = True
    started = time.perf_counter()
    export_saved_model_lib.export_inference_graph(
        input_type=args.input_type,
        batch_size=args.batch_size,
        input_image_size=[args.size, args.size],
        params=params,
        checkpoint_path=None,
        export_dir=args.out_dir,
        export_saved_model_subdir="1",
    )
    print(f"exported {args.out_dir}/1 in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
