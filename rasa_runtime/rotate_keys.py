"""Re-encrypts every stored conversation event with the newest tracker key.

    RASA_TRACKER_KEY=<new>,<old> python -m rasa_runtime.rotate_keys --endpoints endpoints.yml

Run it after restarting the servers with the new key in front; afterwards the old key
can be removed from `RASA_TRACKER_KEY`.
"""

from __future__ import annotations

import argparse

from rasa_runtime.trackers import store_from_endpoints


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rasa_runtime.rotate_keys")
    parser.add_argument("--endpoints", default="endpoints.yml")
    args = parser.parse_args(argv)
    rewritten = store_from_endpoints(args.endpoints).rotate_keys()
    print(f"{rewritten} events re-encrypted with the newest key")


if __name__ == "__main__":
    main()
