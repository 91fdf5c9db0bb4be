"""``python -m mlops_suite.monitoring.sink``: run the sink as ``mlops sink`` does."""

from mlops_suite.monitoring.sink.command import main

if __name__ == "__main__":
    raise SystemExit(main())
