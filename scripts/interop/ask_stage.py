"""The `[ask]` interop case (issue 17): the bot against `transformers serve`, a real
OpenAI-compatible server that is not ours, with the tiny random LLaVA model of ask_model.py.

1. starts `transformers serve MODEL --host 127.0.0.1` (offline: HF_HUB_OFFLINE=1) in the
   model's parent folder, so the model is named by its folder name, e.g. "tiny-llava": a server
   given a model at start ("force model") lists it alone in /v1/models under that name, and
   answers a request for any other name with 400;
2. asks it directly (standard library HTTP, not the bot): one chat completion with a photo,
   then the same streamed, and shows the raw text: control characters and U+FFFD included;
3. runs the bot's `check` with an `[ask]` section pointed at it;
4. runs the real bot (`python -m bot run`) against the WeChat simulator and the TF Serving
   stand-in: 小明 posts a photo in the group, waits for its classification, then writes
   "@<bot> 这是什么?"; the bot's answer must come back @-mentioning 小明, with no control
   characters or U+FFFD, and the audit log must have an "answered" question row.

Run it with the bot's own interpreter (it imports tests.fakes and tests.botproc):
    .venv/bin/python scripts/interop/ask_stage.py WORK --model-dir DIR --transformers PATH
Writes WORK/report/ask.md and WORK/report/ask.json; prints PASS/FAIL lines and
"ask stage: N PASS, M FAIL". Exit 0 only if every step passes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.core.settings import DEFAULT_SYSTEM_PROMPT  # noqa: E402
from tests.botproc import FAMILY, BotProcess, class_photo, write_bot_config  # noqa: E402
from tests.fakes.tfserving import FakeTFServing, ModelSpec  # noqa: E402
from tests.fakes.wechat_sim import WeChatSimulator  # noqa: E402

MENTION = "\u2005"
ASKER = "小明"
QUESTION = "这是什么?"
PHOTO_CLASS = 286  # the TF Serving stand-in calls it "Egyptian cat"
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",  # the CLI would ask PyPI for a newer transformers
    "TOKENIZERS_PARALLELISM": "false",
}

RESULTS: list[dict[str, Any]] = []


def result(step: str, ok: bool, detail: str, **extra: object) -> bool:
    RESULTS.append(dict(step=step, ok=ok, detail=detail, **extra))
    print(f"{'PASS' if ok else 'FAIL'} {step}: {detail}", flush=True)
    return ok


def odd_chars(text: str) -> dict[str, int]:
    """Characters a chat must not see: controls (but newline/tab), format, U+FFFD."""
    out = {"control": 0, "format": 0, "U+FFFD": 0}
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == "\ufffd":
            out["U+FFFD"] += 1
        elif cat == "Cc" and ch not in "\n\t":
            out["control"] += 1
        elif cat == "Cf":
            out["format"] += 1
    return out


def port_free(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def http_json(
    url: str, body: dict[str, Any] | None = None, timeout: float = 60.0
) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def http_stream(url: str, body: dict[str, Any], timeout: float = 60.0) -> tuple[int, list[str]]:
    """POST and return the SSE `data:` payloads as they came."""
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            events = []
            for raw in resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    events.append(line[5:].strip())
            return resp.status, events
    except urllib.error.HTTPError as exc:
        return exc.code, [exc.read().decode("utf-8", "replace")]


def messages(photo: bytes, question: str) -> list[dict[str, Any]]:
    """The shape bot.adapters.ask.OpenAIAsker sends: system prompt, then text + data-URL JPEG."""
    url = "data:image/jpeg;base64," + base64.b64encode(photo).decode("ascii")
    return [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": question},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        },
    ]


def start_server(a: argparse.Namespace, log_path: Path) -> tuple[subprocess.Popen[bytes], float]:
    model_dir = Path(a.model_dir).resolve()
    env = dict(os.environ, **OFFLINE_ENV, HF_HOME=str(Path(a.work) / "ask-run" / "hf-home"))
    cmd = [
        a.transformers,
        "serve",
        model_dir.name,
        "--host",
        "127.0.0.1",
        "--port",
        str(a.port),
        "--device",
        "cpu",
        "--log-level",
        "info",
    ]
    print(f"$ (cd {model_dir.parent} && {' '.join(cmd)})", flush=True)
    t0 = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=model_dir.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return proc, t0


def wait_ready(base: str, proc: subprocess.Popen[bytes], t0: float, limit_s: float) -> float | None:
    while time.perf_counter() - t0 < limit_s:
        if proc.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                if resp.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.5)
    return None


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def raw_probe(v1: str, model: str, photo: bytes) -> None:
    """The server on its own: the model list, one answer whole and one streamed."""
    status, listed = http_json(v1 + "/models")
    ids = [m.get("id") for m in listed.get("data", [])] if isinstance(listed, dict) else []
    result("server /v1/models", status == 200 and model in ids, f"HTTP {status}, ids {ids}")

    body: dict[str, Any] = {"model": model, "messages": messages(photo, QUESTION)}
    t0 = time.perf_counter()
    status, answer = http_json(v1 + "/chat/completions", body)
    took = time.perf_counter() - t0
    if status == 200 and isinstance(answer, dict):
        text = answer["choices"][0]["message"]["content"] or ""
        usage = answer.get("usage")
        result(
            "server chat (whole)",
            True,
            f"HTTP 200 in {took:.2f}s, finish {answer['choices'][0].get('finish_reason')}, "
            f"usage {usage}, {len(text)} chars, odd chars {odd_chars(text)}; "
            f"first 160 as sent: {text[:160]!r}",
            text=text,
        )
    else:
        result("server chat (whole)", False, f"HTTP {status}: {str(answer)[:300]}")

    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    status, events = http_stream(v1 + "/chat/completions", body)
    took = time.perf_counter() - t0
    parts, usage, bad = [], None, []
    for ev in events:
        if ev == "[DONE]":
            continue
        try:
            chunk = json.loads(ev)
        except ValueError:
            bad.append(ev[:80])
            continue
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                parts.append(choice["delta"]["content"])
    text = "".join(parts)
    done = "[DONE]" in events
    result(
        "server chat (streamed)",
        status == 200 and not bad and bool(events),
        f"HTTP {status} in {took:.2f}s, {len(events)} SSE events ({len(parts)} with text, "
        f"[DONE] {'sent' if done else 'not sent'}), usage {usage}, {len(text)} chars, "
        f"odd chars {odd_chars(text)}; first 160 as sent: {text[:160]!r}"
        + (f"; unreadable events {bad}" if bad else ""),
        text=text,
    )


def ask_section(v1: str, model: str) -> str:
    return f'[ask]\nurl = "{v1}"\nmodel = "{model}"\ntimeout_s = 120\nkeep_text = true\n'


def bot_check(a: argparse.Namespace, cfg: Path) -> None:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            [a.bot, "--config", str(cfg), "check"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=cfg.parent,
        )
        rc, out = p.returncode, (p.stdout + p.stderr).rstrip()
    except subprocess.TimeoutExpired:
        rc, out = -1, "timed out after 300s"
    took = time.perf_counter() - t0
    print(f"--- {a.bot} --config {cfg} check: exit {rc} in {took:.1f}s")
    print(out)
    ask_lines = [ln for ln in out.splitlines() if ln.startswith("ask ")]
    ok = (
        rc == 0
        and any("served" in ln for ln in ask_lines)
        and any("test picture" in ln for ln in ask_lines)
    )
    result("bot check", ok, f"exit {rc} in {took:.1f}s; [ask] lines: {ask_lines}", output=out)


def question_rows(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM questions ORDER BY seen_at")]
    except sqlite3.OperationalError:
        return []


def bot_question(sim: WeChatSimulator, cfg: Path) -> None:
    bot = BotProcess(cfg)
    try:
        t0 = time.perf_counter()
        bot.wait_logged_in()
        print(f"--- bot logged in to the simulator in {time.perf_counter() - t0:.1f}s")
        sim.post_picture(FAMILY, ASKER, class_photo(PHOTO_CLASS))
        to_family = lambda m: m.to_nickname == FAMILY  # noqa: E731
        [label] = sim.wait_for_sent(to_family, timeout_s=60)
        print(f"--- the photo's own answer: {label.content!r}")
        asked = time.perf_counter()
        sim.post_text(FAMILY, ASKER, f"@{sim.me}{MENTION}{QUESTION}")
        sent = sim.wait_for_sent(to_family, count=2, timeout_s=180)
        took = time.perf_counter() - asked
        reply = sent[1].content
        print(f"--- the answer as the bot sent it ({took:.2f}s after the question):")
        print(repr(reply))
        prefix = f"@{ASKER}{MENTION}"
        body = reply[len(prefix) :] if reply.startswith(prefix) else reply
        odd = odd_chars(body)
        deadline = time.monotonic() + 15
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not rows:
            rows = question_rows(cfg.parent / "audit.sqlite3")
            time.sleep(0.1)
        row: dict[str, Any] = rows[0] if rows else {}
        print(f"--- audit question row: {row}")
        result(
            "bot question",
            reply.startswith(prefix) and row.get("outcome") == "answered",
            f"reply to {ASKER} in {took:.2f}s, {len(body)} chars, audit outcome "
            f"{row.get('outcome')!r}, latency {row.get('latency_ms')} ms, tokens "
            f"{row.get('prompt_tokens')}+{row.get('completion_tokens')}",
            reply=reply,
            audit=row,
        )
        result(
            "bot answer is clean",
            not any(odd.values()) and "@" not in body,
            f"odd chars in the sent answer {odd}; '@' in it: {'@' in body}",
        )
        code = bot.stop()
        result("bot stops cleanly", code == 0, f"exit {code}")
    except AssertionError as exc:
        result("bot question", False, str(exc).splitlines()[0][:300])
        print(f"--- bot stdout\n{bot.stdout[-3000:]}\n--- bot stderr\n{bot.stderr[-5000:]}")
    finally:
        bot.kill()
        errors = [ln for ln in bot.stderr.splitlines() if "Traceback" in ln or "ERROR" in ln]
        if errors:
            print(f"--- bot stderr (errors)\n{bot.stderr[-5000:]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--transformers", required=True, help="the `transformers` CLI of its venv")
    ap.add_argument("--bot", default=str(ROOT / ".venv" / "bin" / "wechat-vision-bot"))
    ap.add_argument("--port", type=int, default=28621)
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    a = ap.parse_args()

    for var in ("WECHAT_VISION_BOT_TOKEN", "WECHAT_VISION_BOT_ASK_KEY"):
        os.environ.pop(var, None)
    work = Path(a.work).resolve()
    run_dir = work / "ask-run" / "bot"
    (work / "logs").mkdir(parents=True, exist_ok=True)
    (work / "report").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(run_dir, ignore_errors=True)  # config, audit log, state, bot output: fresh
    run_dir.mkdir(parents=True)
    os.environ["XDG_STATE_HOME"] = str(run_dir / "xdg-state")

    model = Path(a.model_dir).resolve().name
    base = f"http://127.0.0.1:{a.port}"
    v1 = base + "/v1"
    log_path = work / "logs" / "ask-serve.log"
    info_path = Path(a.model_dir) / "BUILD_INFO.json"
    if info_path.exists():
        print(f"model: {info_path.read_text().strip()}")
    if not port_free(a.port):
        result("transformers serve", False, f"port {a.port} is taken; set INTEROP_PORT_BASE")
        return finish(work)
    t_all = time.perf_counter()
    proc, t0 = start_server(a, log_path)
    try:
        ready = wait_ready(base, proc, t0, a.ready_timeout)
        if ready is None:
            tail = log_path.read_text(errors="replace")[-3000:]
            result("transformers serve", False, f"no /health answer (exit {proc.poll()}):\n{tail}")
            return finish(work)
        version = subprocess.run(
            [a.transformers, "version"],
            capture_output=True,
            text=True,
            env=dict(os.environ, **OFFLINE_ENV),
        ).stdout
        result(
            "transformers serve",
            True,
            f"transformers {version.strip() or '?'}: /health 200 after {ready:.1f}s, "
            f"model {model!r} on {v1}",
        )
        photo = class_photo(PHOTO_CLASS, (640, 480))
        raw_probe(v1, model, photo)
        with (
            FakeTFServing(ModelSpec()) as tfs,
            WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as sim,
        ):
            sim.add_group(FAMILY, [ASKER, "小红"])
            cfg = write_bot_config(
                run_dir, wechat_url=sim.url, serving_url=tfs.url, extra=ask_section(v1, model)
            )
            print(f"--- config {cfg}:\n{cfg.read_text()}")
            bot_check(a, cfg)
            bot_question(sim, cfg)
    finally:
        stop_server(proc)
        print(f"--- transformers serve stopped (exit {proc.returncode}); log {log_path}")
        print(f"--- whole case in {time.perf_counter() - t_all:.1f}s")
    return finish(work)


def finish(work: Path) -> int:
    passed = sum(1 for r in RESULTS if r["ok"])
    lines = ["| step | result | detail |", "|---|---|---|"]
    lines += [
        f"| {r['step']} | {'PASS' if r['ok'] else 'FAIL'} | "
        f"{r['detail'].replace('|', '/').replace(chr(10), ' ')[:400]} |"
        for r in RESULTS
    ]
    (work / "report" / "ask.md").write_text(
        "# Bot against `transformers serve` ([ask])\n\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    (work / "report" / "ask.json").write_text(
        json.dumps(RESULTS, indent=1, ensure_ascii=True, default=str), encoding="utf-8"
    )
    print(f"\nask stage: {passed} PASS, {len(RESULTS) - passed} FAIL")
    return 0 if RESULTS and passed == len(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
