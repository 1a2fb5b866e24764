"""The seed's bot, as a baseline: ``python -m bench.seedbot WECHAT_URL SERVING_URL STATE_DIR``.

What the seed (shared/seeds/004) does, on the same real itchat-uos: one handler for group
pictures, run one at a time by itchat; per picture it sends a line to the file helper, saves
the picture to a file, reads it back, base64-encodes the whole file into a JSON string and POSTs
it with ``requests.post`` (a new connection each time), looks the class up in the label sheet
with pandas, and returns the reply, which itchat sends at once (no pacing). Left out: the
seed's ``itchat.send('@user@FileName')`` echo to its own account and its ``print``s.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from bench.common import LABELS_XLSX


def main(argv: list[str]) -> int:
    wechat_url, serving_url, state = argv
    state_dir = Path(state)
    state_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        import itchat
        import itchat.config
        from itchat.content import PICTURE

    itchat.set_logging(showOnCmd=False, loggingLevel=logging.WARNING)
    itchat.config.BASE_URL = wechat_url
    img_label = pd.read_excel(LABELS_XLSX)
    predict_url = f"{serving_url}/v1/models/resnet:predict"
    core: Any = itchat.new_instance()

    def predict_api(img_path: Path) -> tuple[str, float]:
        with open(img_path, "rb") as f:
            res = f.read()
        predict_request = '{"instances" : [{"b64": "%s"}]}' % base64.b64encode(res).decode()  # noqa: UP031
        response = requests.post(predict_url, data=predict_request)
        response.raise_for_status()
        prediction = response.json()["predictions"][0]
        proba = max(prediction["probabilities"]) * 100
        class1000 = prediction["classes"]
        names = list(img_label[img_label["class_NO"] == class1000]["class_EN"]) or ["?"]
        return names[0], proba

    def reply_text(msg: Any) -> str:
        username = msg["ActualNickName"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(msg["CreateTime"]))
        core.send(f"[{when}]收到我们一家@{username}的信息:一张图片\n", "filehelper")
        path = state_dir / msg.fileName
        msg.download(str(path))
        my_class, my_proba = predict_api(path)
        return f"@{username} 让我猜猜,你发的这张图片有 {my_proba} %的概率是: {my_class} \n"

    core.msg_register(PICTURE, isGroupChat=True)(reply_text)
    core.auto_login(
        hotReload=True,
        statusStorageDir=str(state_dir / "itchat.pkl"),
        enableCmdQR=False,
        qrCallback=lambda **kw: None,
    )
    core.get_chatrooms(update=True, contactOnly=True)
    print("Logged in", flush=True)
    core.run(blockThread=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
