"""The `detect` stage (issue 18): object detectors on the real servers, through the bot's CLI.

Started by ``scripts/interop/run detect`` (which also makes the venvs if missing, exports the
RetinaNets and starts the servers); two halves, run by different interpreters:

``python detect_stage.py build WORK``   (the tf venv: TensorFlow, numpy, Pillow)
    the five detector SavedModels of ``tests.fakes.detector.build_models`` (od_image_tensor,
    od_encoded, od_encoded_b1, mg_image_tensor, mg_image_bytes_normalized) into
    WORK/detect/models, rebuilt when tests/fakes/detector changed; the photos of
    ``tests.fakes.detector.squares_photo`` into WORK/detect/photos (squares.jpg: 640x480, two
    red squares = dogs, one blue = a person; empty.jpg: 320x240, nothing), what a detector
    should find in them (WORK/detect/expected.json), and, for the plain-HTTP look at STFS, a
    small picture as a uint8 list (probe_pixels.json) and as base64 JPEG (probe_jpeg.b64).

``python detect_stage.py run WORK --bot BOT --tfs URL [--stfs URL] [--stfs-b64 URL]
        [--retinanet NAME=KIND ...] [--stfs-tries FILE ...] [--only CASE,...]``   (stdlib only)
    1. plain HTTP to each STFS: its model detail and one predict per model: does it carry the
       detection outputs, with which shapes;
    2. for every case (server x model) writes a bot config -- labels ``labels/coco.csv``, or a
       3-row table (1 person 人 个, 3 car 汽车 辆, 18 dog 狗 只) when the repo has none;
       ``[serving] url/model/protocol`` -- and runs ``BOT --config CFG check`` and
       ``BOT --config CFG classify --draw OUT squares.jpg empty.jpg``: the counts must be
       2 dogs and 1 person, the three boxes within 0.02 of the squares' (normalised), the empty
       photo nothing; for the RetinaNets (untrained, noise) check must name "TF Model Garden's
       detection outputs (with image_info)" and classify must exit 0 for both photos.
    Writes WORK/report/detect.md (table: server, model, input kind, check's task/output lines,
    classify's counts, box error, time, result) and WORK/report/detect.json (every command's
    full output); bot files under WORK/detect/bot/CASE. Exit 0 only if every case that should
    pass passes (rows marked "known" are limits of STFS 0.8.2 itself, shown, not counted).

Servers (ports: INTEROP_PORT_BASE + 31, 32, 33): the real-TF TF Serving REST server
(tests/fakes/tfserving_tf) with the five detectors and the RetinaNets; real STFS 0.8.2 with a
model config of three detectors (plain) and with all five (``--enable_b64_autoconvert``, which
pictures as bytes need: the bot sends them as ``{"b64": ...}``). STFS 0.8.2 loads a TF2
SavedModel only when ``serving_default`` comes before ``__saved_model_init_op`` in its
signature map, whose order the default (upb) protobuf picks anew in each process; the run
script restarts an STFS whose /health fails, up to INTEROP_STFS_TRIES times (default 8), and
the report says how many starts it took.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKES = (
    "od_image_tensor",
    "od_encoded",
    "od_encoded_b1",
    "mg_image_tensor",
    "mg_image_bytes_normalized",
)
# 640x480: two red squares (dogs) and a blue one (a person) -- the README's example photo
SQUARES = [("red", 160, 120, 80), ("red", 480, 120, 60), ("blue", 320, 360, 100)]
PROBE_SQUARES = [("red", 80, 70, 66), ("blue", 160, 180, 34)]  # 320x240, for plain HTTP
BOX_SLACK = 0.02
MG_SAYS = "TF Model Garden's detection outputs (with image_info)"
OD_SAYS = "the Object Detection API's outputs"
FALLBACK_LABELS = "id,class_EN,class_ZH,measure_ZH\n1,person,人,个\n3,car,汽车,辆\n18,dog,狗,只\n"
ZH = {"red": "狗", "blue": "人", "green": "汽车"}
B64_SERVER = "STFS 0.8.2 --enable_b64_autoconvert"
TFS_SERVER = "TF Serving REST (real TF)"


# ====================================================================== build (tf venv)
def build(work: Path) -> int:
    sys.path.insert(0, str(REPO))
    from tests.fakes.detector import build_models, squares_photo  # numpy + Pillow

    d = work / "detect"
    models = d / "models"
    stamp = models / "BUILD_INFO.json"
    sources = sorted((REPO / "tests" / "fakes" / "detector").glob("*.py"))
    newest = max(p.stat().st_mtime for p in sources)
    if (
        stamp.exists()
        and stamp.stat().st_mtime >= newest
        and all((models / n / "1" / "saved_model.pb").exists() for n in FAKES)
    ):
        print(f"detectors: {models} up to date")
    else:
        t0 = time.perf_counter()
        build_models(models, FAKES)
        import tensorflow as tf  # already in this venv; only for the record

        stamp.write_text(json.dumps({"tensorflow": tf.__version__, "models": list(FAKES)}))
        print(f"detectors: built {', '.join(FAKES)} in {time.perf_counter() - t0:.1f}s")

    photos = d / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    main = squares_photo(640, 480, SQUARES)
    empty = squares_photo(320, 240, [])
    probe = squares_photo(320, 240, PROBE_SQUARES)
    (photos / "squares.jpg").write_bytes(main.data)
    (photos / "empty.jpg").write_bytes(empty.data)
    (photos / "probe.jpg").write_bytes(probe.data)
    import numpy as np

    pixels = np.asarray(probe.image(), dtype=np.uint8)[None].tolist()
    (photos / "probe_pixels.json").write_text(json.dumps(pixels, separators=(",", ":")))
    (photos / "probe_jpeg.b64").write_text(base64.b64encode(probe.data).decode("ascii"))

    def squares(photo):
        return [
            dict(
                colour=s.colour,
                class_id=s.class_id,
                name_zh=ZH[s.colour],
                box=list(s.box),
                score=s.score,
            )
            for s in photo.expected
        ]

    expected = {
        "squares.jpg": dict(width=640, height=480, squares=squares(main)),
        "empty.jpg": dict(width=320, height=240, squares=[]),
        "probe.jpg": dict(width=320, height=240, squares=squares(probe)),
    }
    (d / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False))
    print(f"photos: {photos} (squares.jpg 640x480 2 dogs + 1 person; empty.jpg 320x240)")
    return 0


# ====================================================================== run (stdlib only)
def http(method: str, url: str, body: bytes | None = None, timeout: float = 300) -> tuple:
    """(status, text, seconds); status 0 and the error text when nothing answered."""
    t0 = time.perf_counter()
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), time.perf_counter() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), time.perf_counter() - t0
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0


def shape_of(v) -> list[int]:
    out = []
    while isinstance(v, list):
        out.append(len(v))
        v = v[0] if v else None
    return out


def probe_stfs(name: str, url: str, models: list[str], photos: Path) -> list[dict]:
    """Plain HTTP: STFS's model detail and one predict per model (the probe picture as uint8
    numbers, or as {"b64": JPEG} for a string input)."""
    pixels = json.loads((photos / "probe_pixels.json").read_text())
    jpeg_b64 = (photos / "probe_jpeg.b64").read_text().strip()
    rows = []
    for model in models:
        row = dict(server=name, model=model)
        code, text, _ = http("GET", f"{url}/v1/models/{model}", timeout=120)
        try:
            sig = json.loads(text)["model_signature"]
            row["inputs"] = [(i["name"], i["dtype"], i["shape"]) for i in sig["inputs"]]
            row["outputs"] = sorted(o["name"] for o in sig["outputs"])
        except (ValueError, KeyError, TypeError):
            row["detail"] = f"HTTP {code}: {text[:120]!r}"
            rows.append(row)
            continue
        alias, dtype, shape = row["inputs"][0]
        # DT_STRING (7): the JPEG's bytes, which need --enable_b64_autoconvert
        b64 = {"b64": jpeg_b64}
        value = pixels if dtype != 7 else ([b64] if shape else b64)
        body = json.dumps({"model_name": model, "model_version": 1, "data": {alias: value}})
        code, text, secs = http("POST", f"{url}/", body.encode())
        row["predict_status"] = code
        row["predict_s"] = round(secs, 2)
        row["request_bytes"] = len(body)
        try:
            answer = json.loads(text)
            row["answer"] = {k: shape_of(v) for k, v in sorted(answer.items())}
            n = answer.get("num_detections")
            row["num_detections"] = n
            row["top"] = [
                (answer["detection_classes"][0][i], round(answer["detection_scores"][0][i], 3))
                for i in range(3)
            ]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            row["answer_text"] = text[:160]
        rows.append(row)
    return rows


def cases(a) -> list[dict]:
    """One per (server, model). ``kind``: fake (squares must be found) or retinanet (noise:
    check's convention and an error-free classify); ``known``: a limit of the server itself."""
    out = []
    for model in FAKES:
        out.append(
            dict(
                name=f"tfs/{model}",
                server=TFS_SERVER,
                url=a.tfs,
                model=model,
                protocol="tfserving",
                kind="fake",
            )
        )
    out.append(
        dict(
            name="tfs/od_encoded(auto)",
            server=TFS_SERVER,
            url=a.tfs,
            model="od_encoded",
            protocol="auto",
            kind="fake",
        )
    )
    for spec in a.retinanet:
        model, _, kind = spec.partition("=")
        out.append(
            dict(
                name=f"tfs/{model}",
                server=TFS_SERVER,
                url=a.tfs,
                model=model,
                protocol="tfserving",
                kind="retinanet",
                export=kind,
            )
        )
    if a.stfs_b64:
        for model in FAKES:
            out.append(
                dict(
                    name=f"stfs-b64/{model}",
                    server=B64_SERVER,
                    url=a.stfs_b64,
                    model=model,
                    protocol="stfs",
                    kind="fake",
                )
            )
        out.append(
            dict(
                name="stfs-b64/od_encoded(auto)",
                server=B64_SERVER,
                url=a.stfs_b64,
                model="od_encoded",
                protocol="auto",
                kind="fake",
            )
        )
    if a.stfs:
        for model in ("od_image_tensor", "mg_image_tensor"):
            out.append(
                dict(
                    name=f"stfs/{model}",
                    server="STFS 0.8.2",
                    url=a.stfs,
                    model=model,
                    protocol="stfs",
                    kind="fake",
                )
            )
        out.append(
            dict(
                name="stfs/od_encoded",
                server="STFS 0.8.2",
                url=a.stfs,
                model="od_encoded",
                protocol="stfs",
                kind="fake",
                known="picture bytes need STFS's --enable_b64_autoconvert",
            )
        )
    if a.only:
        keep = set(a.only.split(","))
        out = [c for c in out if c["name"] in keep]
    return out


def write_config(path: Path, case: dict, labels: str, state: Path) -> None:
    text = (
        f"# written by scripts/interop/detect_stage.py for case {case['name']}\n\n"
        f"[serving]\nurl = {json.dumps(case['url'])}\nmodel = {json.dumps(case['model'])}\n"
        f"protocol = {json.dumps(case['protocol'])}\ntimeout_s = 120.0\nretries = 0\n\n"
        f"[labels]\nfile = {json.dumps(labels)}\n\n"
        f"[chat]\nstate_dir = {json.dumps(str(state))}\n"
    )
    path.write_text(text, encoding="utf-8")


def run_cmd(cmd: list[str], env: dict, timeout: int) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = -1, str(exc.stdout or ""), f"timed out after {timeout}s"
    return dict(
        cmd=cmd, exit=rc, stdout=out, stderr=err, seconds=round(time.perf_counter() - t0, 2)
    )


def line_of(text: str, head: str) -> str:
    for ln in text.splitlines():
        if ln.startswith(head):
            return ln[len(head) :].strip()
    return ""


COUNT_RE = re.compile(r"(\d+) (\S)(\S+?) \(")
OBJ_RE = re.compile(
    r"^\s+(\S+)\t([\d.]+)%\tbox \(ymin,xmin,ymax,xmax\) ([-\d.]+),([-\d.]+),([-\d.]+),([-\d.]+)"
)


def read_classify(out: str, photos: list[Path]) -> dict[str, dict]:
    """Per picture: its head line (counts, 'N objects'), its objects, drawn file."""
    found: dict[str, dict] = {}
    cur = None
    for ln in out.splitlines():
        head = next((p for p in photos if ln.startswith(f"{p}\t")), None)
        if head is not None:
            parts = ln.split("\t")
            cur = found[head.name] = dict(
                counts_text=parts[1] if len(parts) > 1 else "",
                objects_n=parts[2] if len(parts) > 2 else "",
                ms=parts[3] if len(parts) > 3 else "",
                objects=[],
                drawn=None,
            )
            cur["counts"] = {m.group(3): int(m.group(1)) for m in COUNT_RE.finditer(parts[1])}
            continue
        if cur is None:
            continue
        m = OBJ_RE.match(ln)
        if m:
            cur["objects"].append(
                (m.group(1), float(m.group(2)), [float(m.group(i)) for i in range(3, 7)])
            )
        elif ln.strip().startswith("drawn:"):
            cur["drawn"] = ln.strip()[len("drawn:") :].strip()
    return found


def box_error(objects: list, squares: list[dict]) -> float | None:
    """The largest |printed - expected| over the squares, each matched to the nearest printed
    box of its class (None when a square has no printed box of its class)."""
    worst = 0.0
    left = list(objects)
    for sq in squares:
        mine = [o for o in left if o[0] == sq["name_zh"]]
        if not mine:
            return None
        best = min(
            mine, key=lambda o: max(abs(x - y) for x, y in zip(o[2], sq["box"], strict=True))
        )
        left.remove(best)
        worst = max(worst, max(abs(x - y) for x, y in zip(best[2], sq["box"], strict=True)))
    return worst


def judge(case: dict, check: dict, classify: dict, seen: dict, expected: dict) -> list[str]:
    """The problems found (empty: PASS)."""
    problems = []
    said = check["stdout"] + check["stderr"]
    if case["kind"] == "retinanet":
        if MG_SAYS not in said:
            problems.append(f"check did not say {MG_SAYS!r}")
        if check["exit"] != 0:
            problems.append(f"check exit {check['exit']}")
    else:
        if check["exit"] != 0:
            problems.append(f"check exit {check['exit']}")
        want = MG_SAYS if case["model"].startswith("mg_") else OD_SAYS
        if want not in said:
            problems.append(f"check did not say {want!r}")
    if classify["exit"] != 0:
        problems.append(f"classify exit {classify['exit']}")
    for pic in ("squares.jpg", "empty.jpg"):
        if pic not in seen:
            problems.append(f"no line for {pic}")
    if problems or case["kind"] == "retinanet":
        return problems
    sq = seen["squares.jpg"]
    if sq["counts"] != {"狗": 2, "人": 1}:
        problems.append(f"counted {sq['counts_text']!r}, not 2 dogs and 1 person")
    if sq["objects_n"] != "3 objects":
        problems.append(f"squares.jpg: {sq['objects_n']!r}, not '3 objects'")
    err = box_error(sq["objects"], expected["squares.jpg"]["squares"])
    if err is None or err > BOX_SLACK:
        problems.append(f"box error {err} > {BOX_SLACK}")
    if not sq["drawn"] or not Path(sq["drawn"]).is_file():
        problems.append("no drawn picture for squares.jpg")
    em = seen["empty.jpg"]
    if em["counts"] or em["objects_n"] != "0 objects":
        problems.append(f"empty.jpg: {em['counts_text']!r} {em['objects_n']!r}")
    return problems


def short_input(check_out: str) -> str:
    inp = line_of(check_out, "input")
    if inp.startswith("JPEG bytes"):
        return "JPEG bytes (string)"
    if inp.startswith("HxWx3 tensor"):
        return "uint8 tensor" if "(uint8)" in inp else inp[:40]
    return inp[:40] or "-"


def first_error(*texts: str) -> str:
    """The bot's first error line ("error: ..." or "...: not classified: ...")."""
    for text in texts:
        for ln in text.splitlines():
            if ln.startswith("error: "):
                return ln[len("error: ") :]
            if ": not classified: " in ln:
                return ln.split(": not classified: ", 1)[1]
    return ""


def unloaded(a) -> int:
    """The bot's check against an STFS start that did not load its models (run by the run
    script before it restarts that STFS): what the user is told."""
    d = Path(a.work) / "detect"
    out = d / f"unloaded-{a.name}.json"
    if out.exists():
        return 0  # the first failed start of this server is enough
    cdir = d / "bot" / f"unloaded-{a.name}"
    cdir.mkdir(parents=True, exist_ok=True)
    cfg = cdir / "config.toml"
    case = dict(name=f"unloaded/{a.name}", url=a.url, model=a.model, protocol="stfs")
    coco = REPO / "labels" / "coco.csv"
    write_config(cfg, case, str(coco) if coco.is_file() else str(d / "labels3.csv"), cdir / "state")
    env = dict(os.environ, XDG_STATE_HOME=str(cdir / "state"))
    check = run_cmd([a.bot, "--config", str(cfg), "check"], env, 300)
    out.write_text(
        json.dumps(
            dict(server=a.name, url=a.url, model=a.model, check=check), indent=1, ensure_ascii=False
        )
    )
    print(
        f"  bot check against the unloaded {a.name}: exit {check['exit']}: "
        f"{first_error(check['stderr'], check['stdout'])}"
    )
    return 0


def run(a) -> int:
    work = Path(a.work)
    d = work / "detect"
    photos_dir = d / "photos"
    expected = json.loads((d / "expected.json").read_text())
    photos = [photos_dir / "squares.jpg", photos_dir / "empty.jpg"]
    coco = REPO / "labels" / "coco.csv"
    if coco.is_file():
        labels = str(coco)
    else:
        labels = str(d / "labels3.csv")
        Path(labels).write_text(FALLBACK_LABELS, encoding="utf-8")
    report: dict = {"labels": labels, "stfs_starts": {}, "probe": [], "cases": []}
    # (the run script removes these at the start of the stage)
    report["unloaded"] = [json.loads(f.read_text()) for f in sorted(d.glob("unloaded-*.json"))]
    for spec in a.stfs_tries:
        name, _, path = spec.partition("=")
        try:
            report["stfs_starts"][name] = Path(path).read_text().strip()
        except OSError:
            report["stfs_starts"][name] = "?"

    # 1. plain HTTP: does STFS carry the detection outputs?
    if a.stfs and not a.only:
        report["probe"] += probe_stfs(
            "stfs", a.stfs, ["od_image_tensor", "mg_image_tensor"], photos_dir
        )
    if a.stfs_b64 and not a.only:
        report["probe"] += probe_stfs("stfs-b64", a.stfs_b64, list(FAKES), photos_dir)
    for row in report["probe"]:
        print(
            f"probe {row['server']}/{row['model']}: "
            + json.dumps(
                {k: v for k, v in row.items() if k not in ("server", "model")}, ensure_ascii=False
            )
        )

    # 2. the bot
    table = []
    for case in cases(a):
        cdir = d / "bot" / case["name"].replace("/", "__")
        out_dir = cdir / "drawn"
        cdir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob("*") if out_dir.exists() else []:
            old.unlink()
        cfg = cdir / "config.toml"
        write_config(cfg, case, labels, cdir / "state")
        env = dict(os.environ, XDG_STATE_HOME=str(cdir / "state"))
        env.pop("WECHAT_VISION_BOT_TOKEN", None)
        check = run_cmd([a.bot, "--config", str(cfg), "check"], env, 600)
        classify = run_cmd(
            [a.bot, "--config", str(cfg), "classify", "--draw", str(out_dir), *map(str, photos)],
            env,
            900,
        )
        said = check["stdout"] + check["stderr"]
        seen = read_classify(classify["stdout"], photos)
        problems = judge(case, check, classify, seen, expected)
        err = None
        if case["kind"] == "fake" and "squares.jpg" in seen:
            err = box_error(seen["squares.jpg"]["objects"], expected["squares.jpg"]["squares"])
        result = "PASS" if not problems else ("known" if case.get("known") else "FAIL")
        row = dict(
            case=case["name"],
            server=case["server"],
            model=case["model"],
            protocol=case["protocol"],
            kind=case["kind"],
            input=short_input(said),
            task=line_of(said, "task"),
            output=line_of(said, "output"),
            predict=line_of(said, "predict"),
            serving=line_of(said, "serving"),
            counts=seen.get("squares.jpg", {}).get("counts_text", "-"),
            empty=seen.get("empty.jpg", {}).get("counts_text", "-"),
            box_error=err,
            check_s=check["seconds"],
            classify_s=classify["seconds"],
            bot_ms=seen.get("squares.jpg", {}).get("ms", ""),
            result=result,
            problems=problems,
            known=case.get("known", ""),
            error=first_error(check["stderr"], classify["stderr"], classify["stdout"]),
        )
        table.append(row)
        report["cases"].append(
            dict(row=row, config=cfg.read_text(), check=check, classify=classify)
        )
        where = f"{case['url']}, model {case['model']}, protocol {case['protocol']}"
        print(f"\n=== {case['name']}  ({where})")
        print(f"--- check: exit {check['exit']} in {check['seconds']}s")
        print(said.rstrip()[-2500:])
        print(f"--- classify: exit {classify['exit']} in {classify['seconds']}s")
        print((classify["stdout"] + classify["stderr"]).rstrip()[-2500:])
        print(f"--- {result}" + (f": {'; '.join(problems)}" if problems else ""))

    out = work / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / "detect.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    (out / "detect.md").write_text(markdown(report, table), encoding="utf-8")
    print("\n" + markdown(report, table))
    bad = [r for r in table if r["result"] == "FAIL"]
    print(
        f"detect stage: {sum(r['result'] == 'PASS' for r in table)} PASS, {len(bad)} FAIL, "
        f"{sum(r['result'] == 'known' for r in table)} known limits"
    )
    return 0 if table and not bad else 1


def cell(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def markdown(report: dict, table: list[dict]) -> str:
    lines = ["# Object detectors on the real servers (detect stage)", ""]
    lines.append(
        f"Labels: `{report['labels']}`. Photos: squares.jpg 640x480 (two red squares = "
        "dogs, a blue one = a person), empty.jpg 320x240. Box error: the largest "
        f"|printed - expected| of the three boxes (normalised; pass ≤ {BOX_SLACK}). "
        "Time: check / classify (both photos), seconds; bot ms = the bot's own time for "
        "squares.jpg."
    )
    if report["stfs_starts"]:
        lines += [
            "",
            "STFS starts until /health answered 200 (each start a fresh process; "
            "STFS 0.8.2 loads a TF2 SavedModel only when the upb protobuf happens to list "
            "`serving_default` before `__saved_model_init_op`): "
            + ", ".join(f"{k}: {v}" for k, v in report["stfs_starts"].items()),
        ]
    lines += [
        "",
        "| server | model | protocol | input kind | check: task | check: output | "
        "classify counts (squares.jpg) | empty.jpg | box error | time (s) | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        err = "-" if r["box_error"] is None else f"{r['box_error']:.4f}"
        note = r["result"]
        if r["known"]:
            note += f" ({r['known']})"
        if r["problems"]:
            note += ": " + "; ".join(r["problems"][:2]) + ("; …" if len(r["problems"]) > 2 else "")
        if r["error"]:
            note += f"; the bot said: {r['error']}"
        lines.append(
            f"| {cell(r['server'])} | {cell(r['model'])} | {r['protocol']} | {cell(r['input'])} | "
            f"{cell(r['task'] or '-')} | {cell(r['output'] or '-')} | {cell(r['counts'])} | "
            f"{cell(r['empty'])} | {err} | {r['check_s']:.1f} / {r['classify_s']:.1f} "
            f"({cell(r['bot_ms'])}) | {cell(note)} |"
        )
    if report.get("unloaded"):
        lines += [
            "",
            "## The bot against an STFS start that did not load its models",
            "",
            "| server | model | check exit | what check said |",
            "|---|---|---|---|",
        ]
        for u in report["unloaded"]:
            c = u["check"]
            said = first_error(c["stderr"], c["stdout"]) or line_of(c["stdout"], "serving")
            lines.append(f"| {u['server']} | {u['model']} | {c['exit']} | {cell(said)} |")
    if report["probe"]:
        lines += [
            "",
            "## STFS over plain HTTP (probe.jpg 320x240: one red, one blue square)",
            "",
            "| server | model | input | predict | answer outputs (shape) | top 3 (class, score) |",
            "|---|---|---|---|---|---|",
        ]
        for p in report["probe"]:
            inp = p.get("inputs", [["-"]])[0]
            if "answer" in p:
                ans = ", ".join(f"{k} {v}" for k, v in p["answer"].items())
            else:
                ans = p.get("answer_text", p.get("detail", "-"))
            pred = (
                f"HTTP {p['predict_status']} in {p['predict_s']}s, {p['request_bytes']:,} B"
                if "predict_status" in p
                else "-"
            )
            lines.append(
                f"| {p['server']} | {p['model']} | {cell(inp)} | {pred} | {cell(ans)} | "
                f"{cell(p.get('top', '-'))} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build")
    b.add_argument("work")
    r = sub.add_parser("run")
    r.add_argument("work")
    r.add_argument("--bot", required=True)
    r.add_argument("--tfs", required=True)
    r.add_argument("--stfs")
    r.add_argument("--stfs-b64")
    r.add_argument("--retinanet", action="append", default=[], metavar="MODEL=EXPORT")
    r.add_argument("--stfs-tries", action="append", default=[], metavar="NAME=FILE")
    r.add_argument("--only", default="")
    u = sub.add_parser("unloaded")
    u.add_argument("work")
    u.add_argument("--bot", required=True)
    u.add_argument("--name", required=True)
    u.add_argument("--url", required=True)
    u.add_argument("--model", required=True)
    a = ap.parse_args()
    if a.what == "build":
        return build(Path(a.work))
    if a.what == "unloaded":
        return unloaded(a)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
