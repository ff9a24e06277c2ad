"""A stand-in Ollama server speaking Ollama's real HTTP API (docs/api.md), with scripted replies.

Ollama cannot run here, so the `ollama` Python client and LlamaIndex's Ollama integration are tested
against this over real HTTP: GET /api/version, GET /api/tags, GET /api/ps, POST /api/show, POST
/api/chat (NDJSON stream or one JSON object). `hang_on` makes chosen paths take the request and never
answer (a model loading, a busy server), `drip_on` answer a byte at a time; `silent_server` never
answers anything. A whole (unstreamed) reply carries its first token's `logprobs` when asked, from
version 0.12.11 on. Like Ollama, it refuses a `keep_alive` string that is no Go duration ("-1"), and a
`thinks` model spends its tokens thinking unless the request says `"think": false`.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = "2026-11-22T12:00:00.000000Z"
LOGPROBS_SINCE = (0, 12, 11)  # the first Ollama that returns token log probabilities when asked
QUEUE_FILLERS = 4  # more than a backlog of 0 holds (Linux keeps one)


@dataclass
class Script:
    models: list[str] = field(default_factory=lambda: ["qwen2.5:7b"])
    replies: list[str] = field(default_factory=list)  # popped in order; the last one repeats
    verdict: str = "yes"  # the reply to the grounder's yes/no checks
    p_yes: float | None = None  # how sure of "yes" the model is (default: 0.9 for a "yes" verdict, else 0.1)
    version: str = "0.13.0"  # from 0.12.11 on, Ollama returns the reply's logprobs when asked
    first_token_delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)  # what GET /api/ps lists as held in memory
    hang_on: tuple[str, ...] = ()  # paths that are read and then never answered (until the server stops)
    drip_on: tuple[str, ...] = ()  # paths answered with headers, then a byte every 0.3 s (20 in all)
    released: threading.Event = field(default_factory=threading.Event)
    thinks: bool = False  # a reasoning model: unless the request says think=false, it thinks first
    fail_mid_stream: str = ""  # after the first piece: an {"error": …} line (what Ollama sends), then the end
    drop_mid_stream: bool = False  # after the first piece: the connection closes (Ollama restarted)

    def next_reply(self, messages: list[dict[str, Any]]) -> str:
        if messages and str(messages[-1].get("content", "")).endswith("yes or no."):
            return self.verdict
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _model_missing(self, name: str) -> None:
            self._json(404, {"error": f"model '{name}' not found"})

        def _hang(self) -> bool:
            if self.path in script.drip_on:  # never idle long enough for a per-read timeout to fire
                self.send_response(200)
                self.send_header("Content-Length", "20")
                self.end_headers()
                for _ in range(20):
                    if script.released.wait(0.3):
                        break
                    self.wfile.write(b" ")
                    self.wfile.flush()
                return True
            if self.path not in script.hang_on:
                return False
            script.released.wait(60)
            return True

        def do_GET(self) -> None:
            if self._hang():
                return
            if self.path == "/api/version":
                self._json(200, {"version": script.version})
            elif self.path == "/api/tags":
                self._json(200, {"models": [_tag(m) for m in script.models]})
            elif self.path == "/api/ps":
                self._json(200, {"models": [_ps(m) for m in script.loaded]})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            script.requests.append({"path": self.path, **body})
            name = body.get("model", "")
            if name not in script.models:
                return self._model_missing(name)
            if self.path == "/api/show":
                return self._json(200, _show(name))
            if self.path != "/api/chat":
                return self._json(404, {"error": "not found"})
            if self._hang():
                return
            keep = body.get("keep_alive")
            if isinstance(keep, str) and not re.fullmatch(r"(-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+|0", keep):
                return self._json(400, {"error": f'time: missing unit in duration "{keep}"'})
            reply = script.next_reply(body.get("messages", []))
            if script.thinks and body.get("think") is not False:
                reply = ""  # num_predict spent in message.thinking
            time.sleep(script.first_token_delay)
            if body.get("stream", True) is False:
                whole = _chunk(name, reply, done=True)
                if reply and body.get("logprobs") and _version(script.version) >= LOGPROBS_SINCE:
                    whole["logprobs"] = _logprobs(script, reply, body.get("top_logprobs", 0))
                return self._json(200, whole)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            words = reply.split(" ")
            pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
            if script.thinks and body.get("think") is not False:
                self._line({**_chunk(name, "", done=False), "message": {"role": "assistant", "content": "",
                                                                         "thinking": "Let me think."}})  # fmt: skip
            for n, piece in enumerate([*pieces, None]):
                if n == 1 and script.drop_mid_stream:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if n == 1 and script.fail_mid_stream:
                    self._line({"error": script.fail_mid_stream})
                    break
                self._line(_chunk(name, piece or "", done=piece is None))
            self.wfile.write(b"0\r\n\r\n")

        def _line(self, body: dict[str, Any]) -> None:
            line = json.dumps(body).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

    return Handler


def _tag(name: str) -> dict[str, Any]:
    return {
        "name": name, "model": name, "modified_at": CREATED, "size": 4683087332,
        "digest": "845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e",
        "details": {"parent_model": "", "format": "gguf", "family": "qwen2", "families": ["qwen2"],
                    "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
    }  # fmt: skip


def _ps(name: str) -> dict[str, Any]:
    tag = _tag(name)
    return {"name": name, "model": name, "size": 6_000_000_000, "digest": tag["digest"], "details": tag["details"],
            "expires_at": "2026-11-22T12:10:00.000000Z", "size_vram": 0, "context_length": 4096}  # fmt: skip


def _show(name: str) -> dict[str, Any]:
    return {
        "modelfile": f"FROM {name}", "parameters": "stop \"<|im_end|>\"", "template": "{{ .Prompt }}",
        "details": _tag(name)["details"], "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
        "capabilities": ["completion"], "modified_at": CREATED,
    }  # fmt: skip


def _chunk(model: str, content: str, *, done: bool) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "model": model,
        "created_at": CREATED,
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        chunk.update(done_reason="stop", total_duration=1_000_000, load_duration=1000, prompt_eval_count=300,
                     prompt_eval_duration=1000, eval_count=20, eval_duration=1000)  # fmt: skip
    return chunk


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])  # "0.13.0-rc1" is 0.13.0


def _logprobs(script: Script, reply: str, top: int) -> list[dict[str, Any]]:
    """The first reply token's log probability and its `top` likeliest alternatives, as Ollama sends them
    (a scripted verdict is one token)."""
    p_yes = script.p_yes if script.p_yes is not None else 0.9 if script.verdict == "yes" else 0.1
    share = 0.99  # of the probability on yes or no, in any spelling; the rest on another word
    others = {"Yes": share * p_yes * 0.7, " yes": share * p_yes * 0.3, "No": share * (1 - p_yes) * 0.9,
              " no": share * (1 - p_yes) * 0.1, "The": 1 - share}  # fmt: skip
    ranked = sorted(others.items(), key=lambda kv: -kv[1])[:top]
    alts = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in ranked if p > 0]
    chosen = "Yes" if reply.lower().startswith("yes") else "No"
    return [{"token": chosen, "logprob": math.log(max(others[chosen], 1e-9)), "bytes": list(chosen.encode()),
             "top_logprobs": alts}]  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) closes the socket mid-reply; that is expected


@contextmanager
def standin_ollama(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        script.released.set()
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[str]:
    """A server that accepts TCP connections but never reads or answers them (a hung Ollama); yields
    the base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # so the accept loop notices `stop`
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)  # kept open, never answered

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        for conn in accepted:
            conn.close()


@contextmanager
def unreachable_server() -> Iterator[str]:
    """An address where connecting times out, as behind a firewall that drops packets: a listening socket
    whose queue of connections waiting to be accepted is full, so Linux drops new handshakes; yields the
    base URL."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(QUEUE_FILLERS):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        waiting.append(client)
    time.sleep(0.2)  # the handshakes that fit complete
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for client in waiting:
            client.close()
        listener.close()
