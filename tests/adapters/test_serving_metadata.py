"""Odd model descriptions (issue 16.5): whatever a server sends as metadata ends as a
ServingError that says what was odd — never a ValueError or AttributeError out of the adapter —
and readable ones that do not fit the configuration are a ModelMismatch."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.adapters.stfs import STFSClient
from bot.adapters.tfserving import TFServingClient
from bot.cli import main
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ModelMismatch
from tests.fakes.tfserving.hostile import (
    HostileServer,
    json_answer,
    resnet_routes,
    stfs_detail,
    tf_metadata,
    tf_tensor,
)

SCORES = {"probabilities": tf_tensor("DT_FLOAT", [-1, 1001])}
JPEG = {"image_bytes": tf_tensor("DT_STRING", [-1])}


def image(shape: Any) -> dict[str, Any]:
    return {"image_bytes": {"dtype": "DT_STRING", "tensor_shape": shape}}


TF_METADATA: dict[str, tuple[Any, str]] = {
    "size not a number": (
        tf_metadata(image({"dim": [{"size": "abc"}]}), SCORES),
        "input 'image_bytes' has the dimension size 'abc', not a whole number",
    ),
    "dim list a string": (
        tf_metadata(image({"dim": "-1"}), SCORES),
        "input 'image_bytes' has the dim '-1', not a list",
    ),
    "shape a list": (
        tf_metadata(image([-1]), SCORES),
        "input 'image_bytes' has the tensor_shape [-1], not an object",
    ),
    "dim a number": (tf_metadata(image({"dim": [-1]}), SCORES), "has the dim -1, not an object"),
    "size null": (tf_metadata(image({"dim": [{"size": None}]}), SCORES), "dimension size None"),
    "size true": (tf_metadata(image({"dim": [{"size": True}]}), SCORES), "dimension size True"),
    "size a fraction": (
        tf_metadata(JPEG, {"probabilities": tf_tensor("DT_FLOAT", [-1, "1e3"])}),
        "output 'probabilities' has the dimension size '1e3'",
    ),
    "size beyond int32": (
        tf_metadata(JPEG, {"probabilities": tf_tensor("DT_FLOAT", [-1, 10**20])}),
        "dimension size '100000000000000000000'",
    ),
    "inputs a list": (tf_metadata([JPEG], SCORES), "signature's inputs are [{"),
    "input a string": (tf_metadata({"image_bytes": "DT_STRING"}, SCORES), "without a dtype"),
    "dtype a number": (tf_metadata({"image_bytes": {"dtype": 7}}, SCORES), "without a dtype"),
    "signature a string": (
        {"metadata": {"signature_def": {"signature_def": {"serving_default": "x"}}}},
        "signature 'serving_default' is not an object",
    ),
    "signature_def a list": (
        {"metadata": {"signature_def": {"signature_def": []}}},
        "no signature_def object",
    ),
    "metadata a list": ([1, 2], "its metadata is not a JSON object"),
}


@pytest.mark.parametrize("case", list(TF_METADATA), ids=list(TF_METADATA))
def test_odd_tf_serving_metadata_is_a_bad_prediction_that_says_what(case: str) -> None:
    metadata, reason = TF_METADATA[case]
    routes = {**resnet_routes(), "GET /v1/models/resnet/metadata": [json_answer(metadata)]}
    with HostileServer(routes) as srv:
        settings = ServingConfig(url=srv.url, model="resnet", retries=0)
        client = TFServingClient(settings, session=requests.Session(), sleep=time.sleep)
        with pytest.raises(BadPrediction) as err:
            client.model_info()
    assert "sent a model description this bot cannot read (" in str(err.value)
    assert reason in str(err.value)


STRING_IN = [{"name": "image", "dtype": 7, "shape": []}]
SCORES_OUT = [{"name": "probabilities", "dtype": 1, "shape": [-1, 120]}]
STFS_DETAIL: dict[str, tuple[Any, str]] = {
    "shape a string": (
        stfs_detail([{"name": "image", "dtype": 7, "shape": "abc"}], SCORES_OUT),
        "input 'image' has the shape 'abc', not a list",
    ),
    "dim not a number": (
        stfs_detail(STRING_IN, [{"name": "probabilities", "dtype": 1, "shape": [-1, "x"]}]),
        "output 'probabilities' has the dimension size 'x'",
    ),
    "shape an object": (
        stfs_detail([{"name": "image", "dtype": 7, "shape": {"dim": [1]}}], SCORES_OUT),
        "has the shape {'dim': [1]}, not a list",
    ),
    "dtype a list": (
        stfs_detail([{"name": "image", "dtype": [7], "shape": []}], SCORES_OUT),
        "input 'image' has the dtype [7], not a DataType number",
    ),
    "dtype a name": (
        stfs_detail([{"name": "image", "dtype": "DT_STRING", "shape": []}], SCORES_OUT),
        "has the dtype 'DT_STRING'",
    ),
    "inputs an object": (stfs_detail({"image": 7}, SCORES_OUT), "inputs are {'image': 7}"),
    "inputs missing": (stfs_detail(None, SCORES_OUT), "inputs are None, not a list"),
    "entry without a name": (stfs_detail([{"dtype": 7}], SCORES_OUT), "without a name"),
    "versions a number": (stfs_detail(STRING_IN, SCORES_OUT, 1), "model_version_list is 1"),
    "versions a string": (
        stfs_detail(STRING_IN, SCORES_OUT, "12"),
        "model_version_list is '12', not a list",
    ),
}


@pytest.mark.parametrize("case", list(STFS_DETAIL), ids=list(STFS_DETAIL))
def test_odd_stfs_model_detail_is_a_bad_prediction_that_says_what(case: str) -> None:
    detail, reason = STFS_DETAIL[case]
    with HostileServer({"GET /v1/models/default": [json_answer(detail)]}) as srv:
        settings = ServingConfig(url=srv.url, model="default", retries=0)
        client = STFSClient(settings, session=requests.Session(), sleep=time.sleep)
        with pytest.raises(BadPrediction) as err:
            client.model_info()
    assert "sent a model description this bot cannot read (" in str(err.value)
    assert reason in str(err.value)


def test_check_against_odd_metadata_prints_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata, reason = TF_METADATA["size not a number"]
    routes = {**resnet_routes(), "GET /v1/models/resnet/metadata": [json_answer(metadata)]}
    table = tmp_path / "labels.csv"
    table.write_text("class_ZH\n" + "".join(f"c{i}\n" for i in range(1001)), encoding="utf-8")
    with HostileServer(routes) as srv:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[serving]\nurl = "{srv.url}"\nretries = 0\n[labels]\nfile = "{table.as_posix()}"\n'
            '[wechat]\nstate_dir = "state"\n[audit]\npath = "audit.sqlite3"\n',
            encoding="utf-8",
        )
        assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err


def test_a_readable_signature_that_does_not_fit_the_config_is_a_model_mismatch() -> None:
    routes = resnet_routes()
    with HostileServer(routes) as srv:
        for overrides, reason in (
            ({"output": "logits"}, "has no output 'logits'; set [serving] output to one of"),
            ({"signature": "predict"}, "has no signature 'predict'; set [serving] signature"),
            ({"input": "tensor"}, "input 'image_bytes' is string (DT_STRING), which does not fit"),
        ):
            settings = ServingConfig(**{"url": srv.url, "retries": 0, **overrides})  # type: ignore[arg-type]
            client = TFServingClient(settings, session=requests.Session(), sleep=time.sleep)
            with pytest.raises(ModelMismatch, match=re.escape(reason)):
                client.model_info()
