"""``python -m tests.fakes.wechat_sim --help``: a local Web WeChat to try the bot against."""

from tests.fakes.wechat_sim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
