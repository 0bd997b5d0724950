"""Uploaded files: only what Gradio's upload route created is read, and nothing the user sent stays on disk.

Gradio stores an upload at ``<cache>/<sha256 of the content>/<file name>``, so identical uploads from
many clients share one path. Two pieces keep that safe:

- :class:`UploadGuard`, an ASGI middleware in front of the API routes (``/queue/join``, ``/call/...``,
  ``/run/...``), replaces every file reference that is a URL, or a path the upload route did not create
  (another cache file such as a gallery picture, ``/etc/passwd``...), with a marker *before* Gradio
  sees it: nothing is fetched or copied, and the endpoint answers with a clear message.
- :class:`UploadStore` hands the bytes of an upload to exactly the request that names it
  (:meth:`UploadStore.claim`): it reads the file, deletes it (and its folder) at once, and keeps the
  bytes in memory for a short while (:data:`SHARED_TTL_S`) so that a concurrent request for the same
  path (the same content) still gets them. A file that is gone and no longer held says "upload it
  again". Uploads nobody claims are deleted by :meth:`UploadStore.sweep` after :data:`ORPHAN_AGE_S`.
  The emptied per-content folder (named after the content's hash, holding nothing) is removed by the
  sweep once the upload is forgotten, not at the claim: an identical upload may be between the upload
  route's ``mkdir`` and its ``rename`` into that folder at that moment, and removing the folder then
  would make the rename fail and leave Gradio's temporary copy of the photo behind.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from ui.image_input import MAX_FILE_MB, ImageInputError

REFUSED = "scalp-care:refused-file:"  # marker put in place of a refused file reference
SHARED_TTL_S = 120.0  # how long claimed bytes stay available to identical concurrent uploads
SHARED_MAX_BYTES = 96 * 1024 * 1024
ORPHAN_AGE_S = 300.0  # an upload nobody claimed is deleted after this long
MAX_JSON_BYTES = 1024 * 1024  # the API's JSON bodies are small: file contents go through /upload
GUARDED_ROUTES = ("/queue/join", "/call/", "/run/", "/api/")
URL_SCHEMES = ("http:", "https:", "ftp:", "data:", "file:", "//")


def _real(path: str) -> str:
    return os.path.realpath(path)


class UploadStore:
    """The bytes of uploads, handed out once per request; see the module docstring."""

    def __init__(self, uploaded: set[str], clock: Callable[[], float] = time.monotonic):
        """``uploaded``: the set of paths Gradio's upload route created (``demo.upload_file_set``, live)."""
        self._uploaded = self.paths = uploaded
        self._clock = clock
        self._lock = threading.Lock()
        self._shared: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # real path → (claimed at, bytes)
        self._shared_bytes = 0

    def is_upload(self, path: str) -> bool:
        """Whether ``path`` is a file Gradio's upload route created (not a path a client made up)."""
        return path in self._uploaded  # the exact string the upload route returned to the client

    def claim(self, reference) -> bytes:
        """The bytes of the uploaded file ``reference`` names (a path, or Gradio's ``{"path": ...}``).

        The file is deleted at once; ImageInputError for a refused reference, a path that is not an
        upload, or an upload that is gone.
        """
        path = reference.get("path") if isinstance(reference, dict) else reference
        if not path:
            raise ImageInputError("no_image")
        if not isinstance(path, str):
            raise ImageInputError("not_uploaded")
        if path.startswith(REFUSED):
            raise ImageInputError(path[len(REFUSED):] or "not_uploaded")
        if not self.is_upload(path):
            raise ImageInputError("not_uploaded")
        real = _real(path)
        with self._lock:
            self._expire()
            try:
                data = _read_capped(real)
            except FileNotFoundError:
                held = self._shared.get(real)
                if held is None:
                    raise ImageInputError("upload_gone") from None
                return held[1]
            self._hold(real, data)
            _delete(real)
            return data

    def sweep(self) -> int:
        """Delete uploads nobody claimed within :data:`ORPHAN_AGE_S`, and forget uploads that are gone
        and no longer held; returns how many files were deleted."""
        deleted, now = 0, time.time()
        with self._lock:
            self._expire()
            held = set(self._shared)
        for path in list(self._uploaded):  # list(): one C-level copy, safe beside the upload route
            try:
                age = now - os.stat(path).st_mtime
            except OSError:  # claimed and deleted: forget it once no request can share its bytes
                if _real(path) not in held:
                    self._uploaded.discard(path)
                    _remove_empty_folder(_real(path))
                continue
            if age > ORPHAN_AGE_S:
                _delete(_real(path))
                deleted += 1
        return deleted

    def start_sweeper(self, every_s: float = 60.0) -> threading.Thread | None:
        """Run :meth:`sweep` every ``every_s`` seconds in a daemon thread (once per store)."""
        if getattr(self, "_sweeper", None) is not None:
            return None

        def loop():
            while True:
                time.sleep(every_s)
                self.sweep()

        self._sweeper = threading.Thread(target=loop, name="scalp-upload-sweeper", daemon=True)
        self._sweeper.start()
        return self._sweeper

    @property
    def held_bytes(self) -> int:
        return self._shared_bytes

    def _hold(self, real: str, data: bytes) -> None:
        if real in self._shared:
            self._shared_bytes -= len(self._shared.pop(real)[1])
        self._shared[real] = (self._clock(), data)
        self._shared_bytes += len(data)
        while self._shared_bytes > SHARED_MAX_BYTES and self._shared:
            _, (_, old) = self._shared.popitem(last=False)
            self._shared_bytes -= len(old)

    def _expire(self) -> None:
        now = self._clock()
        while self._shared:
            real, (claimed_at, data) = next(iter(self._shared.items()))
            if now - claimed_at <= SHARED_TTL_S:
                break
            self._shared.popitem(last=False)
            self._shared_bytes -= len(data)


def _read_capped(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE_MB * 1024 * 1024 + 1)
    if len(data) > MAX_FILE_MB * 1024 * 1024:
        raise ImageInputError("file_too_big", size_mb=os.path.getsize(path) / 1024 / 1024, max_mb=MAX_FILE_MB)
    return data


def _delete(real: str) -> None:
    """Remove one uploaded file (its folder is left to :func:`_remove_empty_folder`, see the module doc)."""
    try:
        Path(real).unlink(missing_ok=True)
    except OSError:
        pass  # already gone, or not ours to remove: the sweeper tries again


def _remove_empty_folder(real: str) -> None:
    """Remove the per-content folder of a forgotten upload if nothing is in it."""
    folder = Path(real).parent
    try:
        if folder.name and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:
        pass  # a new identical upload arrived meanwhile: it is swept with that one


def refused_code(reference, store: UploadStore) -> str | None:
    """Why a file reference in a request must not reach Gradio (``url``/``not_uploaded``), or None."""
    path = reference.get("path")
    if not isinstance(path, str) or not path:
        return "not_uploaded" if path is not None else None
    if path.lower().startswith(URL_SCHEMES) or "://" in path:
        return "url"
    return None if store.is_upload(path) else "not_uploaded"


def guard_payload(value, store: UploadStore) -> tuple[object, int]:
    """``value`` with every refused file reference replaced by a marker string; (new value, refusals)."""
    if isinstance(value, dict):
        if value.get("meta", {}).get("_type") == "gradio.FileData" or ("path" in value and "meta" in value):
            code = refused_code(value, store)
            return (REFUSED + code, 1) if code else (value, 0)
        out, count = {}, 0
        for key, item in value.items():
            out[key], n = guard_payload(item, store)
            count += n
        return out, count
    if isinstance(value, list):
        pairs = [guard_payload(item, store) for item in value]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)
    return value, 0


class UploadGuard:
    """ASGI middleware: file references in API requests must name this app's own uploads (see module doc)."""

    def __init__(self, app, store: UploadStore):
        self.app = app
        self.store = store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not any(
                route in scope["path"] for route in GUARDED_ROUTES):
            return await self.app(scope, receive, send)
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_JSON_BYTES:
                return await _reply(send, 413, "요청이 너무 큽니다 / The request is too large; upload files "
                                               "through the upload route")
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "data" in payload:
            payload["data"], refused = guard_payload(payload["data"], self.store)
            if refused:
                body = json.dumps(payload).encode()
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        return await self.app({**scope, "headers": headers}, replay, send)


async def _reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
