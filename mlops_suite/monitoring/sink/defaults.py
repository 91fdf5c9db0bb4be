"""Default settings of the sink, shared by its flags and its classes.

Kept apart so that ``mlops --help`` can show them without importing the sink.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_FLUSH_ROWS = 10_000
DEFAULT_FLUSH_SECONDS = 60.0
DEFAULT_PAIR_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_PENDING = 50_000
DEFAULT_MAX_BODY_BYTES = 16 << 20
