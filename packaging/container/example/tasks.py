# SPDX-License-Identifier: MIT
"""The example's scheduled jobs: the application's own code, run by solocron
(`python3 -m tasks NAME`) with the container's environment and credentials."""
import sys

from app import app


def warm_cache():
    print(f"warming the cache of {app.config['APP_NAME']} from {app.config['DATABASE_URL']}")


def report():
    with app.app_context():
        print(f"nightly report of {app.config['APP_NAME']}")


if __name__ == "__main__":
    {"warm-cache": warm_cache, "report": report}[sys.argv[1]]()
