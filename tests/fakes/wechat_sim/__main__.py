"""``python -m tests.fakes.wechat_sim``: a simulator with a group that posts pictures."""

from tests.fakes.wechat_sim.cli import main

if __name__ == "__main__":
    main()
