"""Fixed bodies and headers of STFS 0.8.2 (Flask 2.2.5, Werkzeug 2.2.3), as captured."""

from __future__ import annotations

from dataclasses import dataclass, field

HTML = "text/html; charset=utf-8"
JSON = "application/json"
SERVER = "Werkzeug/2.2.3 Python/3.11.7"

# werkzeug.exceptions.InternalServerError / NotFound / MethodNotAllowed .get_body()
HTML_500 = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was "
    "unable to complete your request. Either the server is overloaded or there is an error in "
    "the application.</p>\n"
)
HTML_404 = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n"
)
HTML_405 = (
    "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"
    "<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n"
)
# server.py:373-376 -- note the stray leading quote in the header value (sic)
AUTH_BODY = "Need basic auth to request the resources"
AUTH_CHALLENGE = '"Basic realm="Login Required"'
# Stand-in for templates/index.html (the real page is a 4 kB Bootstrap dashboard)
DASHBOARD = (
    "<!DOCTYPE html>\n<html>\n<head>\n<title>Simple TensorFlow Serving</title>\n</head>\n"
    "<body>\n<h1>Simple TensorFlow Serving</h1>\n</body>\n</html>"
)
CORS_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
REASONS = {200: "OK", 400: "BAD REQUEST", 401: "UNAUTHORIZED", 404: "NOT FOUND"}
REASONS |= {405: "METHOD NOT ALLOWED", 500: "INTERNAL SERVER ERROR"}


@dataclass
class Reply:
    status: int
    body: str
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


def server_error() -> Reply:
    """An exception escaped the view: Flask's HTML 500 page (every STFS inference error)."""
    return Reply(500, HTML_500)
