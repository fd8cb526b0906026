"""The example service: reports what it got (never the values) and stops on SIGTERM."""

import os
import signal
import sys
import time


def stop(signum: int, frame: object) -> None:
    print("stopping on SIGTERM", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
if os.environ.get("APP_FAIL"):
    sys.exit(int(os.environ["APP_FAIL"]))
password = os.environ["DATABASE_PASSWORD"]
print(f"ready: user {os.environ['DATABASE_USER']}, log level {os.environ['LOG_LEVEL']}", flush=True)
print(f"password loaded: {password}", flush=True)  # --mask turns the value into ***
while True:
    time.sleep(0.1)
