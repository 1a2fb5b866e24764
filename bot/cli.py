"""Command line: ``wechat-vision-bot [--config PATH] (check | classify IMAGE... | run)``.

Exit codes: 0 ok; 2 a user, config or environment error (one clear line, no traceback);
75 the receive loop failed on this machine's side (worth a restart); 1 a bug (traceback);
130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import logging
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path

from tqdm import tqdm

from bot.app import bot as app
from bot.app.checks import check
from bot.app.models import LoadedModel, connect_model
from bot.config import DEFAULT_CONFIG_PATH
from bot.config import load_config as read_config
from bot.core.detector import Detector, say_counts
from bot.core.names import log_safe
from bot.core.pipeline import Recogniser, format_probability
from bot.core.settings import Config
from bot.errors import BotError, ReceiveFailed, ServingUnavailable, UsageError

log = logging.getLogger("bot")
EXIT_RESTART = 75  # EX_TEMPFAIL: a local failure; systemd restarts the bot (2 it does not)


def _version() -> str:
    try:
        return importlib.metadata.version("wechat-vision-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS lets --config go before or after the command without one hiding the other.
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"config file (default ./{DEFAULT_CONFIG_PATH})",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log more detail to stderr",
    )
    parser = argparse.ArgumentParser(
        prog="wechat-vision-bot",
        parents=[common],
        description="A WeChat group bot that labels photos with a TF Serving classifier.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "check",
        parents=[common],
        help="validate config and labels, reach TF Serving, show what will be used",
    )
    classify = sub.add_parser(
        "classify", parents=[common], help="label image files exactly as the bot would"
    )
    classify.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    classify.add_argument(
        "--model", metavar="NAME", help="a named model from [models.NAME] (default: [serving])"
    )
    classify.add_argument(
        "--draw",
        type=Path,
        metavar="DIR",
        help="a detector: write each picture with its boxes drawn to DIR (NAME.detections.jpg)",
    )
    stats = sub.add_parser(
        "stats", parents=[common], help="pictures per day and group, from the audit log"
    )
    stats.add_argument("--since", metavar="DATE", help="YYYY-MM-DD, Nd (last N days) or today")
    stats.add_argument("--group", metavar="NAME", help="only this group")
    stats.add_argument("--json", action="store_true", help="print JSON for scripts")
    sub.add_parser(
        "run", parents=[common], help="log in to WeChat (QR code) and answer pictures until stopped"
    )
    return parser


class _NoTracebacks(logging.Filter):
    """itchat logs whole tracebacks at ERROR; keep only their last line unless -v."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Traceback (most recent call last)" in message:
            record.msg, record.args = message.strip().splitlines()[-1], None
        record.exc_info = record.exc_text = None
        return True


class _SafeText(logging.Filter):
    """Names and texts from chat peers reach log lines (ours and itchat's): neutralise them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = log_safe(record.getMessage()), None
        return True


class _NoSecrets(logging.Filter):
    """Every secret the config read (WeCom Secret, serving token and password, ask API key) and
    every piece of one of ``MIN_PIECE`` characters or more becomes ``[secret]`` in log lines: a
    library that logs what it sends (elided to its ends, as ``websockets`` does) shows none."""

    MIN_PIECE = 6

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def learn(self, config: Config) -> Config:
        self.secrets.update(s for s in _secrets_in(config) if s.strip())
        return config

    def redact(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        for secret in self.secrets:
            size = min(self.MIN_PIECE, len(secret))
            for start in range(len(secret) - size + 1):
                at = text.find(secret[start : start + size])
                while at >= 0:
                    spans.append((at, at + size))
                    at = text.find(secret[start : start + size], at + 1)
        out: list[str] = []
        done = 0
        for begin, end in sorted(spans):  # overlapping pieces: one [secret]
            if begin > done or not out:
                out += [text[done:begin], "[secret]"]
            done = max(done, end)
        return "".join(out) + text[done:] if out else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg, record.args = self.redact(message), None
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True


def _secrets_in(node: object, depth: int = 0) -> Iterator[str]:
    """The values of the fields declared with ``settings.secret``, anywhere in the config."""
    if depth > 6:
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name, None)
            if "secret_from" in f.metadata and isinstance(value, str):
                yield value
            elif "secret_from" in f.metadata and isinstance(value, tuple):
                yield from (v for _, v in value)  # [serving] headers: each value is secret
            else:
                yield from _secrets_in(value, depth + 1)
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _secrets_in(value, depth + 1)
    elif isinstance(node, tuple | list):
        for value in node:
            yield from _secrets_in(value, depth + 1)


_SECRETS = _NoSecrets()


def load_config(path: Path) -> Config:
    """The config, its secrets taught to the log filter before anything can log them."""
    return _SECRETS.learn(read_config(path))


def _setup_logging(verbose: bool, level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if verbose else level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_NoTracebacks())
    handler.addFilter(_SafeText())
    handler.addFilter(_SECRETS)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else level)
    # websockets logs every frame at DEBUG, and the WeCom login frame carries the Secret: its
    # frames stay out of the log at any verbosity (the WeCom adapter logs what matters).
    logging.getLogger("websockets").setLevel(logging.INFO)


def cmd_check(config_path: Path) -> int:
    config = load_config(config_path)
    lines, problems = check(config)
    for topic, finding in lines:
        print(f"{topic:<8} {finding}")
    if problems:
        sys.stdout.flush()
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    print("ok: ready to classify")
    return 0


def _classified(model: LoadedModel, path: Path, data: bytes, draw: Path | None) -> str:
    """What ``classify`` prints for one picture: a classifier's guesses, or a detector's
    counts and each object found (and its drawn picture written to ``draw``)."""
    answerer = model.answerer
    if isinstance(answerer, Detector):
        seen = answerer.detect(data, drawing=draw is not None)
        counted = say_counts(seen.findings.counted) or "(nothing above [detect] min_score)"
        lines = [
            f"{path}\t{counted}\t{len(seen.findings.boxes)} objects\t{seen.latency_ms:.0f} ms\t"
            f"{seen.sent_bytes:,} B sent"
        ]
        for box in seen.findings.boxes:
            where = ",".join(f"{v:.3f}" for v in box.box)
            lines.append(f"  {box.caption}\t{box.score:.1%}\tbox (ymin,xmin,ymax,xmax) {where}")
        if draw is not None and seen.picture is not None:
            out = draw / f"{path.stem}.detections.jpg"  # the one place a drawn picture is
            out.write_bytes(seen.picture.data)  # written to disk: where the user asked
            lines.append(f"  drawn: {out}")
        return "\n".join(lines)
    assert isinstance(answerer, Recogniser)
    result = answerer.recognise(data)
    best = result.verdict.best
    top = ", ".join(
        f"{g.label} {format_probability(g.probability)}" for g in result.verdict.guesses
    )
    sure = "" if result.verdict.confident else "  (below min_confidence)"
    return (
        f"{path}\t{best.label}\t{format_probability(best.probability)}\t"
        f"top: {top}\t{result.latency_ms:.0f} ms\t{result.sent_bytes:,} B sent{sure}"
    )


def cmd_classify(
    config_path: Path, images: list[Path], model_name: str | None, draw: Path | None = None
) -> int:
    config = load_config(config_path)
    if draw is not None:
        if not config.detect.draw:
            raise UsageError("--draw needs [detect] draw = true (it is off in the config)")
        draw.mkdir(parents=True, exist_ok=True)
    model = connect_model(config, model_name)
    if draw is not None and not isinstance(model.answerer, Detector):
        raise UsageError(
            f"--draw draws a detector's boxes, but model {model.info.name!r} is a classifier"
        )
    failed = bugs = 0
    bar = tqdm(images, unit="img", disable=None if len(images) > 1 else True, file=sys.stderr)
    for path in bar:
        try:
            data = path.read_bytes()
            line = _classified(model, path, data, draw)
        except OSError as exc:
            failed += 1
            tqdm.write(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            continue
        except ServingUnavailable:
            raise  # the server is gone: every other picture would wait for it in vain
        except BotError as exc:
            # One picture's problem, whatever the model answered: report it, go on.
            failed += 1
            tqdm.write(f"{path}: not classified: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # a bug met on one picture: say so (-v: traceback), go on
            failed, bugs = failed + 1, bugs + 1
            log.exception("%s: not classified: internal error", path)
            tqdm.write(f"{path}: not classified: internal error ({exc!r})", file=sys.stderr)
            continue
        tqdm.write(line, file=sys.stdout)
    if failed:
        print(f"{failed} of {len(images)} pictures not classified", file=sys.stderr)
        return 1 if bugs else 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config_path: Path = getattr(args, "config", DEFAULT_CONFIG_PATH)
    _setup_logging(
        getattr(args, "verbose", False), logging.INFO if args.command == "run" else logging.WARNING
    )
    try:
        if args.command == "check":
            return cmd_check(config_path)
        if args.command == "classify":
            return cmd_classify(config_path, args.images, args.model, args.draw)
        if args.command == "stats":
            text = app.stats_text(
                load_config(config_path),
                since=args.since,
                group=args.group,
                as_json=args.json,
                today=date.today(),
            )
            sys.stdout.write(text)
            return 0
        if args.command == "run":
            from bot import daemon

            return daemon.run(load_config(config_path))
        raise AssertionError(f"unhandled command {args.command}")
    except ReceiveFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RESTART
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: show everything
        traceback.print_exc()
        return 1
