"""Real Triton serving a real detector with weights shipped in a wheel: OpenCV's Haar cascades
(`opencv-python-headless<5` ships cv2/data/haarcascade_*.xml), in the Object Detection API's
output shape, as issue 18 asks: `haar` takes a BYTES JPEG and answers detection_boxes
[-1, N, 4] (normalised ymin, xmin, ymax, xmax), detection_classes [-1, N] (COCO: 17 cat for
the frontal cat face, 1 person for the frontal face), detection_scores [-1, N] and
num_detections [-1]. A cascade has no score: each find's is 0.9, below min_score none.

    /tmp/pyt/bin/pip install "opencv-python-headless>=4.9,<4.11" "numpy<2"
    /tmp/pyt/bin/python scripts/interop/v2/haar_serve.py --port 18300
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

N = 20
CASCADES = (
    (17, "haarcascade_frontalcatface.xml"),
    (1, "haarcascade_frontalface_default.xml"),
)
DETECTORS = [(cid, cv2.CascadeClassifier(cv2.data.haarcascades + f)) for cid, f in CASCADES]


def _detect(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    h, w = img.shape
    boxes = np.zeros((N, 4), np.float32)
    classes = np.ones(N, np.float32)
    scores = np.zeros(N, np.float32)
    n = 0
    for cid, cascade in DETECTORS:
        for x, y, bw, bh in cascade.detectMultiScale(img, scaleFactor=1.1, minNeighbors=5):
            if n < N:
                boxes[n] = (y / h, x / w, (y + bh) / h, (x + bw) / w)
                classes[n], scores[n] = cid, 0.9
                n += 1
    return boxes, classes, scores, n


@batch
def infer(image: np.ndarray) -> dict[str, np.ndarray]:
    found = [_detect(bytes(row[0])) for row in image]
    return {
        "detection_boxes": np.stack([f[0] for f in found]),
        "detection_classes": np.stack([f[1] for f in found]),
        "detection_scores": np.stack([f[2] for f in found]),
        "num_detections": np.array([[f[3]] for f in found], np.float32),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18300)
    args = ap.parse_args()
    config = TritonConfig(http_port=args.port, grpc_port=args.port + 1, metrics_port=args.port + 2)
    with Triton(config=config) as triton:
        triton.bind(
            model_name="haar",
            infer_func=infer,
            inputs=[Tensor(name="image", dtype=np.bytes_, shape=(1,))],
            outputs=[
                Tensor(name="detection_boxes", dtype=np.float32, shape=(N, 4)),
                Tensor(name="detection_classes", dtype=np.float32, shape=(N,)),
                Tensor(name="detection_scores", dtype=np.float32, shape=(N,)),
                Tensor(name="num_detections", dtype=np.float32, shape=(1,)),
            ],
            config=ModelConfig(max_batch_size=4),
        )
        print("serving", flush=True)
        triton.serve()


if __name__ == "__main__":
    main()
