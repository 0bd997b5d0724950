"""A tiny OpenAI-compatible HTTP server for tests (``POST /v1/chat/completions``).

It answers in one of several modes (``ok``, ``no_sections``, ``violating``,
``401``, ``429``, ``500``, ``sleep``; ``answer``: whatever ``state.answer`` holds, e.g.
HTML or links; ``echo`` and ``401_echo``: the request's Authorization header, key
included, echoed in a 200 answer or in a 401 error's body and headers, as a careless
proxy might) and counts requests, so tests can drive the real ``openai`` client
against 127.0.0.1 without any network. ``retry_after``, when
set, is sent as the ``Retry-After`` header of error answers, as rate-limited APIs do. Run it by hand
with ``python tests/openai_stub.py`` (port printed) to try the app against it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK_ANSWER = (
    "원인: 피지 분비가 늘어나는 체질과 스트레스가 흔한 원인입니다.\n"
    "특징: 감은 지 하루 안에 두피가 번들거립니다.\n"
    "관리방안:\n1. 저녁에 미온수로 꼼꼼히 감습니다.\n2. 피지 정돈 성분이 든 샴푸를 씁니다.\n"
    "3. 주 1회 두피팩으로 관리합니다."
)
VIOLATING_ANSWER = (
    "원인: 피지 분비가 많습니다.\n"
    "특징: 두피가 번들거립니다. 이 상태는 탈모를 예방하는 샴푸로 치료할 수 있습니다.\n"
    "관리방안:\n1. 꼼꼼히 감습니다.\n2. 이 샴푸가 발모를 돕습니다.\n3. 두피를 완전히 말립니다."
)


class StubState:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests = 0
        self.sleep_s = 3.0
        self.retry_after: str | None = None
        self.last_body: dict | None = None
        self.answer = OK_ANSWER  # the content of mode "answer"
        self.lock = threading.Lock()


def _handler(state: StubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status >= 400 and state.retry_after is not None:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            with state.lock:
                state.requests += 1
                state.last_body = json.loads(raw or b"{}")
            if not self.path.endswith("/chat/completions"):
                return self._send(404, {"error": {"message": "not found"}})
            mode = state.mode
            if mode == "sleep":
                time.sleep(state.sleep_s)
                mode = "ok"
            auth = self.headers.get("Authorization", "")
            if mode in ("401", "429", "500"):
                return self._send(
                    int(mode), {"error": {"message": f"stub error {mode}", "type": "stub", "code": mode}}
                )
            if mode == "401_echo":
                return self._send(
                    401,
                    {
                        "error": {
                            "message": f"Incorrect API key provided: {auth}",
                            "type": "auth",
                            "code": auth,
                        }
                    },
                    headers={"X-Echo-Authorization": auth},
                )
            content = {
                "ok": OK_ANSWER,
                "violating": VIOLATING_ANSWER,
                "no_sections": "두피를 깨끗이 하세요.",
                "answer": state.answer,
                "echo": (
                    f"원인: 피지 분비가 많습니다. 요청 헤더 {auth}\n"
                    f"특징: 두피가 번들거립니다. {auth.split()[-1]}\n"
                    f"관리방안:\n1. 꼼꼼히 감습니다. {auth}\n2. 두피를 말립니다.\n3. 주 1회 팩을 합니다."
                ),
            }[mode]
            self._send(
                200,
                {
                    "id": f"chatcmpl-{auth}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": state.last_body.get("model", "stub") + auth,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": content},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

    return Handler


def start_stub() -> tuple[ThreadingHTTPServer, StubState, str]:
    """Start the stub on a free port; returns (server, state, base_url ending in /v1)."""
    state = StubState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state, f"http://127.0.0.1:{server.server_address[1]}/v1"


if __name__ == "__main__":
    srv, _, url = start_stub()
    print(f"OpenAI stub at {url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.shutdown()
