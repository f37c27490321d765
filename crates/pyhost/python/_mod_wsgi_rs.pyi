"""Type stub for `_mod_wsgi_rs`, the native module mod_wsgi-rs creates in
every interpreter (crates/pyhost/src/native.rs). Private: applications use
the `mod_wsgi` module. A `Handle` is one request's capsule; once the
request is over every call on it raises RuntimeError."""

from typing import Optional, TypedDict

class Handle: ...

server_version: str
api_version: tuple[int, int, int]
LOG_CRIT: int
LOG_ERR: int
LOG_WARNING: int
LOG_NOTICE: int
LOG_INFO: int
LOG_DEBUG: int

class Stats(TypedDict):
    input_reads: int
    input_length: int
    input_time: float
    output_writes: int
    output_length: int
    output_time: float
    status: int
    gil_wait_time: float
    gil_wait_count: int

def start_response(handle: Handle, status: str, headers: list[tuple[str, str]]) -> None:
    """Checks and keeps the status and headers (PEP 3333 rules); they go
    out with the first body bytes. Raises ValueError / TypeError."""

def write(handle: Handle, data: bytes) -> None:
    """Sends body bytes (cut at a declared Content-Length). OSError when
    the client is gone."""

def finish(handle: Handle, last: bytes = ...) -> None:
    """Ends the response, optionally with its last bytes in the same write."""

def read(handle: Handle, size: int) -> bytes:
    """Up to `size` body bytes (all of them when negative); b'' at the end."""

def sendfile(handle: Handle, fd: int, offset: int, length: int) -> bool:
    """Hands part of a regular file over as a file; False when it cannot."""

def log(handle: Optional[Handle], level: int, text: str) -> None:
    """A line for the error log, with the request's id when `handle` is given
    (or a request is current on this thread)."""

def set_activity(text: str) -> None:
    """What the process is doing (named by the watchdog if a stop hangs)."""

def script_loaded(ok: bool) -> None:
    """A WSGI script loaded (or failed to): daemon health checks."""

def stats(handle: Handle) -> Stats:
    """The request's I/O counts and times, for `request_finished`."""

def start_recording_metrics(cpu_user: float, cpu_system: float) -> None: ...
def request_interval(cpu_user: float, cpu_system: float) -> dict | None: ...
def process_totals() -> tuple[float, int, float, int, int] | None: ...
def server_metrics() -> dict | None: ...
