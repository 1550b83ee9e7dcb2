"""A fake OpenAI-compatible chat completions server on 127.0.0.1, answering from a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: an HTTP status and the assistant's text (or an error body)."""

    status: int = 200
    text: str = ""


@dataclass
class FakeOpenAI:
    """The script, and what the clients sent."""

    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            fake.authorizations.append(self.headers.get("Authorization", ""))
            reply = fake.answer()
            if self.path != "/v1/chat/completions":
                reply = Reply(404, "no such route")
            if reply.status == 200:
                body = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": fake.requests[-1].get("model", "x"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            else:
                body = {"error": {"message": reply.text, "type": "error", "code": None}}
            data = json.dumps(body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_openai(*replies: Reply) -> Iterator[FakeOpenAI]:
    """Serve `replies` in turn (the last one repeats) at `fake.url` (a base URL ending /v1)."""
    fake = FakeOpenAI(list(replies))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
