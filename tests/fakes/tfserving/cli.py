"""Command line: ``python -m tests.fakes.tfserving`` runs the fake for manual testing."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from tests.fakes.tfserving.images import image_for_class, jpeg_bytes
from tests.fakes.tfserving.server import FakeTFServing
from tests.fakes.tfserving.spec import _INPUT_KINDS, _OUTPUT_KINDS, _TENSOR_RANGES, ModelSpec


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.tfserving",
        description="Fake TensorFlow Serving REST server for manual testing.",
    )
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-name", default="resnet")
    parser.add_argument("--num-classes", type=int, default=1001)
    parser.add_argument("--versions", default="1", help="comma separated, e.g. 1,2")
    parser.add_argument("--label", action="append", default=[], help="name=version")
    parser.add_argument("--input-kind", choices=_INPUT_KINDS, default="b64")
    parser.add_argument("--input-alias", default=None)
    parser.add_argument("--size", type=int, default=224, help="H = W for tensor inputs")
    parser.add_argument("--outputs", choices=_OUTPUT_KINDS, default="classes_probabilities")
    parser.add_argument("--tensor-range", choices=_TENSOR_RANGES, default="0_1")
    parser.add_argument("--tf2", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per predict")
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument(
        "--make-image",
        nargs=2,
        metavar=("CLASS_ID", "OUT.jpg"),
        help="write a JPEG that the fake classifies as CLASS_ID, then exit",
    )
    args = parser.parse_args(argv)

    if args.make_image:
        class_id, out = int(args.make_image[0]), args.make_image[1]
        with open(out, "wb") as fh:
            fh.write(jpeg_bytes(image_for_class(args.num_classes, class_id)))
        print(f"wrote {out} (class {class_id} of {args.num_classes})")
        return 0

    labels: dict[str, int] = {}
    for item in args.label:
        key, _, value = item.partition("=")
        labels[key] = int(value)
    spec = ModelSpec(
        name=args.model_name,
        versions=tuple(int(v) for v in args.versions.split(",") if v.strip()),
        labels=labels,
        input_kind=args.input_kind,
        input_alias=args.input_alias,
        height=args.size,
        width=args.size,
        num_classes=args.num_classes,
        outputs=args.outputs,
        tf2=args.tf2,
        tensor_range=args.tensor_range,
    )
    srv = FakeTFServing(spec, port=args.port, host=args.host)
    srv.delay_s = args.delay
    srv.max_concurrent = args.max_concurrent
    print(f"Fake TF Serving listening on {srv.url}  (model {spec.name!r})", flush=True)
    print(f"  status:   {srv.url}/v1/models/{spec.name}", flush=True)
    print(f"  predict:  POST {srv.url}/v1/models/{spec.name}:predict", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return 0
