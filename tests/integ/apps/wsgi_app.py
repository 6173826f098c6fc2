"""A tiny WSGI app, standard library only, that the integration tests run under
Debian's gunicorn 20.1 as a second kind of upstream:

    gunicorn --chdir tests/integ/apps --bind unix:/path wsgi_app:app

Routes (any method), a subset of tools/demo_backend.c:
    /           200 text/plain "hello from gunicorn\\n"
    /echo       200 the request body, read fully; Content-Length set
    /headers    200 JSON {"method", "path", "headers": {lowercased name: value}}
    /bytes/N    200 N bytes, byte i = "0-9a-z"[i % 36]; Content-Length set
    .../work/MS 200 "done\n" after MS milliseconds (a fixed service time: with
                sync workers, a backend of known capacity), any prefix; with
                WSGI_WORK_SCALE_FILE set, MS times the number in that file,
                read at each request (bench/overload.py slows the backend
                down mid-run with it)
    otherwise   404 "not found\\n"

"path" is the request target as received, query included, as in the demo
backend. Header values are WSGI native strings (Latin-1), so json.dumps escapes
every non-ASCII byte as \\u00XX, again as the demo backend does.
"""

import json
import os
import re
import time
from urllib.parse import quote

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz"
# A whole number of periods, so that every piece starts at byte 0 of the pattern.
PIECE = PATTERN * (64 * 1024 // len(PATTERN))
BYTES_MAX = 1 << 30
READ_BYTES = 64 * 1024
BYTES_ROUTE = re.compile(r"/bytes/([0-9]{1,10})")
WORK_ROUTE = re.compile(r".*/work/([0-9]{1,5})")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/":
        return reply(start_response, "200 OK", "text/plain", b"hello from gunicorn\n")
    if path == "/echo":
        return reply(start_response, "200 OK", "application/octet-stream", read_body(environ))
    if path == "/headers":
        return reply(start_response, "200 OK", "application/json", describe_request(environ))
    match = WORK_ROUTE.fullmatch(path)
    if match:
        time.sleep(int(match.group(1)) * work_scale() / 1000)
        return reply(start_response, "200 OK", "text/plain", b"done\n")
    match = BYTES_ROUTE.fullmatch(path)
    if match and int(match.group(1)) <= BYTES_MAX:
        return reply_pattern(start_response, int(match.group(1)))
    return reply(start_response, "404 Not Found", "text/plain", b"not found\n")


def work_scale():
    path = os.environ.get("WSGI_WORK_SCALE_FILE")
    if not path:
        return 1.0
    try:
        with open(path) as f:
            return float(f.read())
    except (OSError, ValueError):
        return 1.0


def reply(start_response, status, content_type, body):
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def reply_pattern(start_response, length):
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(length))],
    )
    return generate_pattern(length)


def generate_pattern(length):
    """Yields the body piece by piece, so that memory stays bounded for any length."""
    while length > 0:
        piece = PIECE if length >= len(PIECE) else PIECE[:length]
        length -= len(piece)
        yield piece


def read_body(environ):
    """Reads the whole body: up to CONTENT_LENGTH when given, else to the end of
    the stream (gunicorn decodes chunked bodies and then reports no length)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    left = int(length) if length else None
    pieces = []
    while left is None or left > 0:
        piece = stream.read(READ_BYTES if left is None else min(left, READ_BYTES))
        if not piece:
            break
        pieces.append(piece)
        if left is not None:
            left -= len(piece)
    return b"".join(pieces)


def describe_request(environ):
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return json.dumps(
        {"method": environ["REQUEST_METHOD"], "path": request_target(environ), "headers": headers}
    ).encode("ascii") + b"\n"


def request_target(environ):
    """gunicorn keeps the raw target in RAW_URI; other servers only give it decoded."""
    if "RAW_URI" in environ:
        return environ["RAW_URI"]
    target = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), encoding="latin-1")
    query = environ.get("QUERY_STRING")
    return target + "?" + query if query else target
