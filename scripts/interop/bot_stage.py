"""Last stage: run the bot's own CLI against each real server and compare top-1s.

For every case it writes a config, runs `wechat-vision-bot --config CFG check` and
`wechat-vision-bot --config CFG classify PICTURES...`, reads the breed name the bot printed
for each picture (labels are `breed-NNN`, NNN = class id) and compares it with the model's
own top-1 computed directly in TF (WORK/expected.json). Prints a PASS/FAIL table.

Plain Python (standard library only): any interpreter can run it.

Usage: python bot_stage.py WORK --bot PATH --tfs URL --stfs URL --stfs-b64 URL
                           --stfs-auth URL [--auth-user U --auth-password P] [--only CASE,...]
Writes WORK/report/bot.md and WORK/report/bot.json. Exit 0 only if every row passes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pictures import PICTURES

LABEL_RE = re.compile(r"breed-(\d{3})")


def cases(a) -> list[dict]:
    """name, server url, model, serving keys, images keys, expected-model key."""
    tfs, stfs = a.tfs, a.stfs
    b64 = {"input": "base64_text"}
    out = [
        dict(
            name="tfs-b64",
            url=tfs,
            model="aidog",
            expect="aidog_b64",
            serving={"protocol": "tfserving", **b64, "scores": "auto"},
            images={"format": "png"},
        ),
        dict(
            name="tfs-b64-protocol-auto",
            url=tfs,
            model="aidog",
            expect="aidog_b64",
            serving={"protocol": "auto", **b64},
            images={"format": "png"},
        ),
        dict(
            name="tfs-b64-tf2-savedmodel",
            url=tfs,
            model="aidog_tf2",
            expect="aidog_b64_tf2",
            serving={"protocol": "tfserving", **b64},
            images={"format": "png"},
        ),
        dict(
            name="tfs-b64-jpeg",
            url=tfs,
            model="aidog_jpeg",
            expect="aidog_jpeg",
            serving={"protocol": "tfserving", **b64},
            images={"format": "jpeg"},
        ),
        dict(
            name="tfs-float",
            url=tfs,
            model="aidog_float",
            expect="aidog_float",
            serving={"protocol": "tfserving", "input": "auto", "scores": "probabilities"},
            images={},
        ),
        dict(
            name="tfs-logits",
            url=tfs,
            model="aidog_logits",
            expect="aidog_logits",
            serving={"protocol": "tfserving", "input": "auto", "scores": "logits"},
            images={},
        ),
        dict(
            name="tfs-logits-scores-auto",
            url=tfs,
            model="aidog_logits",
            expect="aidog_logits",
            serving={"protocol": "tfserving", "input": "auto", "scores": "auto"},
            images={},
        ),
        dict(
            name="stfs-b64",
            url=stfs,
            model="aidog",
            expect="aidog_b64",
            serving={"protocol": "stfs", **b64, "scores": "auto"},
            images={"format": "png"},
        ),
        dict(
            name="stfs-b64-protocol-auto",
            url=stfs,
            model="aidog",
            expect="aidog_b64",
            serving={"protocol": "auto", **b64},
            images={"format": "png"},
        ),
        dict(
            name="stfs-b64-jpeg",
            url=stfs,
            model="aidog_jpeg",
            expect="aidog_jpeg",
            serving={"protocol": "stfs", **b64},
            images={"format": "jpeg"},
        ),
        dict(
            name="stfs-autoconvert-server",
            url=a.stfs_b64,
            model="aidog",
            expect="aidog_b64",
            serving={"protocol": "stfs", **b64},
            images={"format": "png"},
        ),
        dict(
            name="stfs-basic-auth",
            url=a.stfs_auth,
            model="aidog",
            expect="aidog_b64",
            serving={"protocol": "stfs", **b64, "username": a.auth_user},
            images={"format": "png"},
            env={"WECHAT_VISION_BOT_PASSWORD": a.auth_password},
        ),
        dict(
            name="stfs-float",
            url=stfs,
            model="aidog_float",
            expect="aidog_float",
            serving={"protocol": "stfs", "input": "auto", "scores": "probabilities"},
            images={},
        ),
        dict(
            name="stfs-logits",
            url=stfs,
            model="aidog_logits",
            expect="aidog_logits",
            serving={"protocol": "stfs", "input": "auto", "scores": "logits"},
            images={},
        ),
    ]
    out = [c for c in out if c["url"]]
    if a.only:
        keep = set(a.only.split(","))
        out = [c for c in out if c["name"] in keep]
    return out


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def write_config(path: str, case: dict, labels: str, state: str) -> None:
    serving = {
        "url": case["url"],
        "model": case["model"],
        "timeout_s": 60.0,
        "retries": 0,
        **case["serving"],
    }
    sections = {
        "serving": serving,
        "labels": {"file": labels, "column": "class_EN", "id_column": "class_NO", "offset": 0},
        "images": case["images"],
        "wechat": {"state_dir": state},
    }
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"# written by scripts/interop/bot_stage.py for case {case['name']}\n")
        for name, keys in sections.items():
            fh.write(f"\n[{name}]\n")
            for k, v in keys.items():
                fh.write(f"{k} = {toml_value(v)}\n")


def run(cmd: list[str], env: dict, timeout: int) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        return -1, exc.stdout or "", f"timed out after {timeout}s", time.perf_counter() - t0


def expected_top1(exp: dict, model_key: str, pic: str, fmt: str | None) -> tuple[int, float]:
    row = exp[model_key][pic]
    if model_key == "aidog_jpeg" and fmt == "jpeg" and "as_file_bytes" in row:
        row = row["as_file_bytes"]
    return row["top1"], row["margin_ratio"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--bot", required=True)
    ap.add_argument("--tfs")
    ap.add_argument("--stfs")
    ap.add_argument("--stfs-b64")
    ap.add_argument("--stfs-auth")
    ap.add_argument("--auth-user", default="bot")
    ap.add_argument("--auth-password", default="")
    ap.add_argument("--only", default="")
    a = ap.parse_args()

    exp = json.loads(Path(a.work, "expected.json").read_text())["models"]
    pics = [os.path.join(a.work, "pictures", p[0]) for p in PICTURES]
    labels = os.path.join(a.work, "labels.csv")
    root = os.path.join(a.work, "bot")
    report: list[dict] = []
    table: list[tuple] = []
    for case in cases(a):
        d = os.path.join(root, case["name"])
        os.makedirs(d, exist_ok=True)
        cfg = os.path.join(d, "config.toml")
        write_config(cfg, case, labels, os.path.join(d, "state"))
        env = dict(os.environ, XDG_STATE_HOME=os.path.join(d, "state"), **case.get("env", {}))
        env.pop("WECHAT_VISION_BOT_TOKEN", None)
        rc_c, out_c, err_c, s_c = run([a.bot, "--config", cfg, "check"], env, 180)
        rc_k, out_k, err_k, s_k = run([a.bot, "--config", cfg, "classify", *pics], env, 900)
        print(f"\n=== {case['name']}  ({case['url']}, model {case['model']})")
        print(f"--- check: exit {rc_c} in {s_c:.1f}s")
        print((out_c + err_c).rstrip()[-3000:])
        print(f"--- classify: exit {rc_k} in {s_k:.1f}s")
        print((out_k + err_k).rstrip()[-4000:])
        lines = (out_k + "\n" + err_k).splitlines()
        fmt = case["images"].get("format")
        rows = []
        for path in pics:
            pic = os.path.basename(path)
            want, margin = expected_top1(exp, case["expect"], pic, fmt)
            mine = [ln for ln in lines if ln.startswith(path)]
            got = None
            if mine:
                m = LABEL_RE.search(mine[0][len(path) :])
                got = int(m.group(1)) if m else None
            ok = got == want and rc_c == 0
            why = "" if mine else "no line for this picture"
            if got is None and mine:
                why = mine[0][len(path) :].strip()[:160]
            rows.append(
                dict(picture=pic, model_top1=want, bot_top1=got, margin=margin, ok=ok, note=why)
            )
            table.append((case["name"], pic, want, got, "PASS" if ok else "FAIL", why))
        report.append(
            dict(
                case=case,
                config=Path(cfg).read_text(),
                check=dict(exit=rc_c, seconds=round(s_c, 2), stdout=out_c, stderr=err_c),
                classify=dict(exit=rc_k, seconds=round(s_k, 2), stdout=out_k, stderr=err_k),
                rows=rows,
            )
        )

    out = os.path.join(a.work, "report")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bot.json"), "w") as fh:
        json.dump(report, fh, indent=1, ensure_ascii=False)
    lines = [
        "| case | picture | model top-1 | bot top-1 | result | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c} | {p} | {w} | {g if g is not None else '-'} | {r} | {n} |"
        for c, p, w, g, r, n in table
    ]
    summary = {}
    for c, _, _, _, r, _ in table:
        summary.setdefault(c, [0, 0])[0 if r == "PASS" else 1] += 1
    lines += ["", "| case | check exit | passed | failed |", "|---|---|---|---|"]
    for rep in report:
        c = rep["case"]["name"]
        lines.append(f"| {c} | {rep['check']['exit']} | {summary[c][0]} | {summary[c][1]} |")
    text = "\n".join(lines)
    with open(os.path.join(out, "bot.md"), "w") as fh:
        fh.write("# Bot against the real servers\n\n" + text + "\n")
    print("\n" + text)
    passed = sum(1 for t in table if t[4] == "PASS")
    print(f"\nbot stage: {passed} PASS, {len(table) - passed} FAIL")
    return 0 if table and passed == len(table) else 1


if __name__ == "__main__":
    sys.exit(main())
