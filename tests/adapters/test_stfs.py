"""The STFS adapter against the Simple TensorFlow Serving 0.8.2 stand-in (tests/fakes/stfs)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.stfs import STFSClient
from bot.app.protocols import detect
from bot.cli import main
from bot.core.serving import ModelInput
from bot.core.settings import ImagesConfig, ServingConfig
from bot.errors import ModelMismatch, ServingRejected
from tests import gallery
from tests.fakes.stfs import FakeSTFS
from tests.fakes.tfserving import (
    FakeTFServing,
    ModelSpec,
    dogs120_spec,
    image_for_class,
    logits_spec,
    named_classes_spec,
    seed000_spec,
    write_dogs120_csv,
)

GOLDEN = 56


@pytest.fixture(scope="module")
def stfs() -> Iterator[FakeSTFS]:
    with FakeSTFS(seed000_spec()) as server:
        yield server


def settings(url: str, **overrides: object) -> ServingConfig:
    values = {"url": url, "model": "default", "retry_backoff_s": 0.01, **overrides}
    return ServingConfig(**values)  # type: ignore[arg-type]


def client_for(url: str, **overrides: object) -> STFSClient:
    return STFSClient(settings(url, **overrides), session=requests.Session(), sleep=time.sleep)


def write_config(tmp_path: Path, url: str, serving: str = "") -> Path:
    table = write_dogs120_csv(tmp_path / "dogs120.csv")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[serving]\nurl = "{url}"\nmodel = "default"\nretry_backoff_s = 0.01\n{serving}\n'
        f'[labels]\nfile = "{table.as_posix()}"\n'
        '[wechat]\nstate_dir = "state"\n[audit]\npath = "audit.sqlite3"\n',
        encoding="utf-8",
    )
    return path


def dog_photo(tmp_path: Path, class_id: int) -> Path:
    path = tmp_path / f"dog{class_id}.jpg"
    path.write_bytes(gallery.jpeg(image_for_class(120, class_id, (1440, 1080))))
    return path


def photo_for(client: STFSClient, class_id: int, num_classes: int = 120) -> ModelInput:
    picture = gallery.jpeg(image_for_class(num_classes, class_id, (640, 480)))
    return PhotoPreparer(client.model_info().input, ImagesConfig())(picture)


def argmax(values: tuple[float, ...]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def test_seed000_on_stfs_classify_gives_the_breed_name(
    stfs: FakeSTFS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, stfs.url, 'protocol = "stfs"\ninput = "base64_text"')
    assert main(["--config", str(cfg), "classify", str(dog_photo(tmp_path, GOLDEN))]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "金毛寻回犬"
    sent = [r for r in stfs.requests if r.method == "POST"][-1]
    assert sent.path == "/" and sent.json is not None
    assert {k: v for k, v in sent.json.items() if k != "data"} == {
        "model_name": "default",
        "model_version": 1,
        "signature_name": "serving_default",
    }
    text = sent.json["data"]["image"]
    assert isinstance(text, str) and base64.urlsafe_b64decode(text)[:2] == b"\xff\xd8"


def test_auto_protocol_and_auto_input_find_stfs_and_base64_text(
    stfs: FakeSTFS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, stfs.url)
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert f"serving  {stfs.url} (STFS, auto-detected): model 'default' version 1" in out
    assert "(auto: tried jpeg refused (HTML 500 page); base64_text works)" in out
    assert "predict  test picture -> " in out


def test_protocol_detection_tells_the_servers_apart() -> None:
    def detected(url: str, **overrides: object) -> str:
        serving = settings(url, **overrides)
        return detect(serving, session=requests.Session(), sleep=time.sleep).name

    with FakeTFServing(ModelSpec(name="default")) as tfs:
        assert detected(tfs.url) == "tfserving"
        assert detected(tfs.url, model="missing") == "tfserving"
    with FakeSTFS(seed000_spec(), enable_auth=True) as srv:
        assert detected(srv.url) == "stfs"  # its 401 page
        assert detected(srv.url, model="missing", username="admin", password="admin") == "stfs"
    with FakeSTFS(seed000_spec(tf2=True), init_op_first=True) as broken:
        assert detected(broken.url) == "stfs"


def test_html_500_becomes_a_clear_error_and_check_finds_the_input_that_works(
    stfs: FakeSTFS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = client_for(stfs.url, input="jpeg")
    with pytest.raises(ServingRejected) as err:
        client.predict(photo_for(client, 3))
    assert (err.value.status, err.value.server_message) == (500, "HTML 500 page")
    assert "STFS 0.8.2 answers every inference error this way" in str(err.value)
    assert "--enable_b64_autoconvert" in str(err.value)
    cfg = write_config(tmp_path, stfs.url, 'input = "jpeg"')
    assert main(["--config", str(cfg), "check"]) == 2
    assert 'tried: [serving] input = "base64_text" works' in capsys.readouterr().err


def test_basic_auth_is_sent_and_a_401_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeSTFS(seed000_spec(), enable_auth=True, auth_password="s3cret") as srv:
        client = client_for(srv.url, username="admin", password="s3cret", input="base64_text")
        assert argmax(client.predict(photo_for(client, 9)).probabilities) == 9
        assert all(r.status == 200 for r in srv.requests)
        with pytest.raises(ServingRejected, match="wants basic auth .* set \\[serving\\] username"):
            client_for(srv.url).model_info()
        monkeypatch.setenv("STFS_PASSWORD", "s3cret")
        cfg = write_config(tmp_path, srv.url, 'username = "admin"\npassword_env = "STFS_PASSWORD"')
        assert main(["--config", str(cfg), "classify", str(dog_photo(tmp_path, 12))]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "寻血猎犬"


def test_unknown_model_and_unknown_version_do_not_fit_the_config_and_say_what_to_set(
    stfs: FakeSTFS,
) -> None:
    # STFS answers both with a 200: no invented status code, a ModelMismatch (not retried)
    with pytest.raises(ModelMismatch, match="has no model 'dogs'; set \\[serving\\] model"):
        client_for(stfs.url, model="dogs").model_info()
    with pytest.raises(ModelMismatch, match="it has versions 1"):
        client_for(stfs.url, version=2).model_info()


def test_string_outputs_cannot_be_served_by_stfs_so_discovery_says_so() -> None:
    spec = named_classes_spec(name="default", input_kind="base64_text", input_alias="image")
    with FakeSTFS(spec) as srv, pytest.raises(ModelMismatch, match="cannot write string"):
        client_for(srv.url).model_info()


def test_tf2_model_that_stfs_failed_to_load_names_the_init_op_problem() -> None:
    with (
        FakeSTFS(seed000_spec(tf2=True), init_op_first=True) as srv,
        pytest.raises(ServingRejected, match="__saved_model_init_op"),
    ):
        client_for(srv.url).model_info()


def test_picture_bytes_model_needs_b64_autoconvert() -> None:
    for autoconvert, works in ((False, False), (True, True)):
        with FakeSTFS(dogs120_spec(name="default"), enable_b64_autoconvert=autoconvert) as srv:
            client = client_for(srv.url)
            assert client.model_info().input.kind == "jpeg"
            payload = photo_for(client, 30)
            if works:
                assert argmax(client.predict(payload).probabilities) == 30
            else:
                with pytest.raises(ServingRejected, match="--enable_b64_autoconvert"):
                    client.predict(payload)


def test_logits_model_on_stfs_gets_a_tensor_and_softmax() -> None:
    spec = logits_spec(name="default", num_classes=120, height=32, width=32)
    with FakeSTFS(spec) as srv:
        client = client_for(srv.url)
        prediction = client.predict(photo_for(client, 77))
        assert argmax(prediction.probabilities) == 77
        assert max(prediction.probabilities) == pytest.approx(0.9, abs=1e-4)
        assert client.scores.decision == "logits (auto: from the output's name)"
