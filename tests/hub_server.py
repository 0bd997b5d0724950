"""A minimal Hugging Face Hub-compatible HTTP server for offline tests.

It speaks just enough of the Hub's HTTP API for ``huggingface_hub`` 2.4, ``transformers``
and ``datasets`` clients to create repos, push commits (small files inline as base64,
large files through the LFS batch API with the "basic" PUT transfer), create branches,
read repo info, trees, refs and commit history, set Space variables and download files
(``hf_hub_download``, ``snapshot_download``, ``from_pretrained``, ``pipeline``).

Repos live in memory as real commit chains (each commit = sha + parent + a full file
snapshot); file contents are stored content-addressed in a temporary folder. Writes
need a bearer token that the server knows; every request is logged with the user its
token maps to, and the raw tokens seen are kept so tests can check which one was used.

Clients must set ``HF_ENDPOINT`` to :attr:`HubServer.url` before importing
``huggingface_hub`` and ``HF_HUB_DISABLE_XET=1`` (the server has no Xet storage), so
tests run client code in a subprocess with :meth:`HubServer.client_env`.

Use it as a pytest fixture (``from hub_server import hub_server``) or by hand::

    python tests/hub_server.py --token hf_test=me
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# Stored as LFS like the Hub's default .gitattributes does (plus anything over 10 MB).
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".onnx",
    ".arrow",
    ".parquet",
    ".h5",
    ".msgpack",
    ".zip",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
DEFAULT_GITATTRIBUTES = b"".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubError(Exception):
    """An HTTP error answer with the Hub's X-Error-Code header."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class FileEntry:
    sha256: str
    size: int
    git_oid: str
    lfs: bool

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, FileEntry]
    title: str
    message: str
    date: str
    author: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    owner: str
    sdk: str | None = None
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)

    def resolve(self, revision: str) -> Commit:
        revision = unquote(revision)
        if revision.startswith("refs/heads/"):
            revision = revision[len("refs/heads/") :]
        sha = self.branches.get(revision)
        if sha is None and revision in self.commits:
            sha = revision
        if sha is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[sha]


class HubStore:
    """Repos, blobs, tokens and the request log of one server."""

    def __init__(self, root: Path, tokens: dict[str, str]):
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tokens = dict(tokens)  # token -> user name
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.log: list[dict] = []  # one entry per request: method, path, user, status
        self.tokens_seen: list[str] = []
        self.errors: list[str] = []  # unexpected server-side exceptions (answered 500)
        # Tests set {"status": 500, "path_contains": "/commit/"} to make the next matching request fail.
        self.fail_next: dict | None = None
        self.redirect_lfs = True  # resolve of an LFS file answers 302 to the blob store, as the Hub does
        self._counter = 0

    # -- blobs and commits -------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / sha
        if not path.exists():
            tmp = path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_bytes(data)
            tmp.replace(path)
        return sha

    def has_blob(self, sha256: str) -> bool:
        return (self.blob_dir / sha256).exists()

    def read_blob(self, sha256: str) -> bytes:
        return (self.blob_dir / sha256).read_bytes()

    def add_commit(
        self, repo: Repo, branch: str, files: dict[str, FileEntry], title: str, message: str, author: str
    ):
        with self.lock:
            parent = repo.branches.get(branch)
            self._counter += 1
            seed = json.dumps(
                [
                    repo.repo_id,
                    parent,
                    sorted((p, e.sha256) for p, e in files.items()),
                    title,
                    time.time_ns(),
                    self._counter,
                ]
            )
            sha = hashlib.sha1(seed.encode()).hexdigest()
            repo.commits[sha] = Commit(sha, parent, dict(files), title, message, _now(), author)
            repo.branches[branch] = sha
            return repo.commits[sha]

    def entry_for(self, path: str, data: bytes, lfs: bool | None = None) -> FileEntry:
        sha = self.put_blob(data)
        if lfs is None:
            lfs = path.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE
        return FileEntry(sha, len(data), git_blob_oid(data), lfs)

    def get_repo(self, repo_type: str, repo_id: str, user: str | None) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and user != repo.owner):
            raise HubError(404 if user else 401, "Repository not found", "RepoNotFound")
        return repo

    def history(self, repo: Repo, revision: str) -> list[Commit]:
        commit, out = repo.resolve(revision), []
        while commit is not None:
            out.append(commit)
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return out


class _Handler(BaseHTTPRequestHandler):
    server_version = "MiniHub/1.0"
    store: HubStore  # set on the subclass made per server

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    # -- plumbing --------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        token = auth.split(" ", 1)[1].strip()
        self.store.tokens_seen.append(token)
        user = self.store.tokens.get(token)
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _require_user(self) -> str:
        user = self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to write (send a bearer token)")
        return user

    def _send(
        self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"
    ):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self._status = status

    def _json(self, payload, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(payload).encode(), headers)

    def _dispatch(self):
        self._status = 0
        self._log_user = None
        url = urlsplit(self.path)
        self._query = parse_qs(url.query)
        parts = [unquote(p) for p in url.path.split("/") if p]
        try:
            fail = self.store.fail_next
            if fail and fail.get("path_contains", "") in url.path:
                self.store.fail_next = None
                self._body()  # read what the client sends, so it gets the answer rather than a reset
                raise HubError(fail["status"], fail.get("message", "Injected server error"))
            self._log_user = self._user()
            self._route(parts)
        except HubError as err:
            headers = {"X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json({"error": err.message}, err.status, headers)
        except Exception as err:  # a server bug: answer 500 (tests see it) instead of dropping the connection
            message = f"test Hub server error: {type(err).__name__}: {err}"
            self.store.errors.append(f"{self.command} {url.path}: {message}")
            self._json({"error": message}, 500, {"X-Error-Message": message})
        finally:
            self.store.log.append(
                {"method": self.command, "path": url.path, "user": self._log_user, "status": self._status}
            )

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = lambda self: self._dispatch()  # noqa: E731

    # -- routing -----------------------------------------------------------------------
    def _route(self, parts: list[str]):
        m = self.command
        if parts[:2] == ["api", "whoami-v2"]:
            user = self._require_user()
            return self._json(
                {
                    "type": "user",
                    "name": user,
                    "fullname": user,
                    "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
                }
            )
        if parts[:3] == ["api", "repos", "create"] and m == "POST":
            return self._create_repo()
        if parts[:2] == ["api", "validate-yaml"] and m == "POST":
            return self._validate_yaml()
        if parts[:1] == ["_lfs"] and m == "PUT" and len(parts) == 2:
            return self._lfs_put(parts[1])
        if (
            parts[:1] == ["_lfs"]
            and m in ("GET", "HEAD")
            and len(parts) == 2
            and self.store.has_blob(parts[1])
        ):
            data = self.store.read_blob(parts[1])
            return self._send(200, data, {"ETag": f'"{parts[1]}"'}, "application/octet-stream")
        if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in REPO_TYPES:
            repo_type, repo_id, rest = REPO_TYPES[parts[1]], f"{parts[2]}/{parts[3]}", parts[4:]
            return self._api(repo_type, repo_id, rest)
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = REPO_TYPES[parts[0]], parts[1:]
        if len(parts) >= 3 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(repo_type, f"{parts[0]}/{parts[1][:-4]}")
        if len(parts) >= 5 and parts[2] == "resolve" and m in ("GET", "HEAD"):
            return self._resolve(repo_type, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        raise HubError(404, f"No such endpoint: {self.command} {self.path}")

    def _api(self, repo_type: str, repo_id: str, rest: list[str]):
        m, store = self.command, self.store
        if not rest and m in ("GET", "HEAD"):  # HEAD: scalp_models.hub_loading.hub_reachable() probes this
            return self._info(store.get_repo(repo_type, repo_id, self._log_user), "main")
        if not rest and m == "DELETE" or rest == ["delete"]:
            raise HubError(405, "Deleting repos is not supported by this test server")
        head, args = rest[0], rest[1:]
        if head == "revision" and m == "GET":
            return self._info(store.get_repo(repo_type, repo_id, self._log_user), "/".join(args))
        if head == "tree" and m == "GET":
            repo = store.get_repo(repo_type, repo_id, self._log_user)
            return self._tree(repo, args[0] if args else "main", "/".join(args[1:]))
        if head == "paths-info" and m == "POST":
            return self._paths_info(store.get_repo(repo_type, repo_id, self._log_user), args[0])
        if head == "commits" and m == "GET":
            repo = store.get_repo(repo_type, repo_id, self._log_user)
            return self._json(
                [self._commit_json(c) for c in store.history(repo, args[0] if args else "main")]
            )
        if head == "refs" and m == "GET":
            repo = store.get_repo(repo_type, repo_id, self._log_user)
            branches = [
                {"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo.branches.items()
            ]
            return self._json({"branches": branches, "converts": [], "tags": []})
        # Everything below writes.
        user = self._require_user()
        repo = store.get_repo(repo_type, repo_id, user)
        if repo.owner != user:
            raise HubError(403, f"{user} cannot write to {repo_id}")
        if head == "preupload" and m == "POST":
            return self._preupload(repo, args[0])
        if head == "commit" and m == "POST":
            return self._commit(repo, args[0], user)
        if head == "branch" and m == "POST":
            return self._create_branch(repo, args[0])
        if head == "variables" and m == "POST":
            payload = json.loads(self._body() or b"{}")
            repo.variables[payload["key"]] = {
                "value": payload["value"],
                "updatedAt": _now(),
                "description": payload.get("description"),
            }
            return self._json(repo.variables)
        if head == "settings" and m == "PUT":
            payload = json.loads(self._body() or b"{}")
            if "private" in payload:
                repo.private = bool(payload["private"])
            return self._json({"private": repo.private})
        raise HubError(404, f"No such endpoint: {m} {self.path}")

    # -- endpoints -------------------------------------------------------------------
    def _create_repo(self):
        user = self._require_user()
        payload = json.loads(self._body() or b"{}")
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or user
        if namespace != user:
            raise HubError(403, f"{user} cannot create repos in {namespace}")
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self._base()}/{URL_PREFIX[repo_type]}{repo_id}"
        with self.store.lock:
            if (repo_type, repo_id) in self.store.repos:
                return self._json({"error": "You already created this repo", "url": url}, 409)
            if repo_type == "space" and not payload.get("sdk"):
                raise HubError(400, "A Space needs an sdk")
            repo = Repo(
                repo_type,
                repo_id,
                payload.get("visibility", "public") == "private" or bool(payload.get("private")),
                user,
                sdk=payload.get("sdk"),
            )
            self.store.repos[(repo_type, repo_id)] = repo
            files = {
                ".gitattributes": self.store.entry_for(".gitattributes", DEFAULT_GITATTRIBUTES, lfs=False)
            }
            self.store.add_commit(repo, "main", files, "initial commit", "", user)
        return self._json({"url": url, "name": repo_id})

    def _validate_yaml(self):
        payload = json.loads(self._body() or b"{}")
        content = payload.get("content", "")
        if content.startswith("---"):
            try:
                block = content.split("---", 2)[1]
                data = yaml.safe_load(block)
                if data is not None and not isinstance(data, dict):
                    raise ValueError("metadata must be a mapping")
            except (IndexError, ValueError, yaml.YAMLError) as err:
                return self._json({"errors": [{"message": f"Invalid YAML: {err}"}]}, 400)
        return self._json({"errors": [], "warnings": []})

    def _preupload(self, repo: Repo, revision: str):
        commit = repo.resolve(revision)
        payload = json.loads(self._body())
        files = []
        for f in payload["files"]:
            path, size = f["path"], int(f["size"])
            lfs = path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE
            existing = commit.files.get(path)
            files.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.etag if existing else None,
                }
            )
        return self._json({"files": files, "commitOid": commit.sha})

    def _lfs_batch(self, repo_type: str, repo_id: str):
        user = self._require_user()
        self.store.get_repo(repo_type, repo_id, user)
        payload = json.loads(self._body())
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.store.has_blob(obj["oid"]):
                answer["actions"] = {
                    "upload": {"href": f"{self._base()}/_lfs/{obj['oid']}", "expires_in": 3600}
                }
            objects.append(answer)
        return self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def _lfs_put(self, oid: str):
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "sha256 of the uploaded content does not match the LFS oid")
        self.store.put_blob(data)
        return self._send(200, b"")

    def _commit(self, repo: Repo, revision: str, user: str):
        if self._query.get("create_pr"):
            raise HubError(400, "Pull requests are not supported by this test server")
        branch = unquote(revision)
        commit = repo.resolve(branch)
        if branch not in repo.branches:
            raise HubError(400, f"Can only commit to a branch, not {branch}")
        files = dict(commit.files)
        header = {}
        for line in self._body().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
                parent = value.get("parentCommit")
                if parent and parent != commit.sha:
                    raise HubError(412, f"parentCommit {parent} is not the head of {branch}")
            elif key == "file":
                data = base64.b64decode(value["content"])
                files[value["path"]] = self.store.entry_for(value["path"], data, lfs=False)
            elif key == "lfsFile":
                if not self.store.has_blob(value["oid"]):
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                data = self.store.read_blob(value["oid"])
                files[value["path"]] = FileEntry(value["oid"], len(data), git_blob_oid(data), True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: e for p, e in files.items() if not p.startswith(prefix)}
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        new = self.store.add_commit(
            repo, branch, files, header.get("summary", ""), header.get("description", ""), user
        )
        url = f"{self._base()}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{new.sha}"
        return self._json({"commitUrl": url, "commitOid": new.sha, "pullRequestUrl": None, "success": True})

    def _create_branch(self, repo: Repo, branch: str):
        payload = json.loads(self._body() or b"{}")
        branch = unquote(branch)
        if branch in repo.branches:
            raise HubError(409, f"Branch {branch} already exists")
        repo.branches[branch] = repo.resolve(payload.get("startingPoint") or "main").sha
        return self._json({})

    def _info(self, repo: Repo, revision: str):
        commit = repo.resolve(revision)
        info = {
            "id": repo.repo_id,
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "siblings": [{"rfilename": p} for p in sorted(commit.files)],
        }
        if repo.repo_type == "space":
            info["sdk"] = repo.sdk
            info["runtime"] = {"stage": "BUILDING", "hardware": {"current": None, "requested": "cpu-basic"}}
        return self._json(info)

    def _file_json(self, path: str, entry: FileEntry) -> dict:
        item = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": path}
        if entry.lfs:
            item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": 134}
        return item

    def _tree(self, repo: Repo, revision: str, folder: str):
        commit = repo.resolve(revision)
        recursive = self._query.get("recursive", ["false"])[0].lower() in ("true", "1")
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        out, folders = [], set()
        for path in sorted(commit.files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if "/" in rest:
                parts = rest.split("/")
                for depth in range(1, len(parts) if recursive else 2):
                    folders.add(prefix + "/".join(parts[:depth]))
                if not recursive:
                    continue
            out.append(self._file_json(path, commit.files[path]))
        if prefix and not out and not folders:
            raise HubError(404, f"{folder} does not exist at {revision}", "EntryNotFound")
        out += [
            {"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
            for f in sorted(folders)
        ]
        return self._json(out)

    def _paths_info(self, repo: Repo, revision: str):
        commit = repo.resolve(revision)
        body = self._body().decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body).get("paths", [])
        out = []
        for path in paths:
            if path in commit.files:
                out.append(self._file_json(path, commit.files[path]))
            elif any(p.startswith(path.rstrip("/") + "/") for p in commit.files):
                out.append(
                    {
                        "type": "directory",
                        "oid": hashlib.sha1(path.encode()).hexdigest(),
                        "size": 0,
                        "path": path,
                    }
                )
        return self._json(out)

    def _commit_json(self, c: Commit) -> dict:
        return {
            "id": c.sha,
            "authors": [{"user": c.author}],
            "date": c.date,
            "title": c.title,
            "message": c.message,
            "parents": [c.parent] if c.parent else [],
        }

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str):
        repo = self.store.get_repo(repo_type, repo_id, self._log_user)
        commit = repo.resolve(revision)
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"{path} does not exist at {revision}", "EntryNotFound")
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{entry.etag}"', "Accept-Ranges": "bytes"}
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        if entry.lfs and self.store.redirect_lfs:
            # Like the Hub: LFS files redirect to a CDN on another host (here "localhost" instead of
            # 127.0.0.1), so clients take size/etag from X-Linked-* and drop the auth header on the way.
            port = self.server.server_address[1]
            headers["Location"] = f"http://localhost:{port}/_lfs/{entry.sha256}"
            return self._send(302, b"", headers)
        data = self.store.read_blob(entry.sha256) if self.command == "GET" else b""
        if self.command == "HEAD":
            self.send_response(200)
            self.send_header("Content-Length", str(entry.size))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self._status = 200
            return
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0] or 0)
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return self._send(206, data[start:], headers, "application/octet-stream")
        return self._send(200, data, headers, "application/octet-stream")

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


class HubServer:
    """A running local Hub on 127.0.0.1 (free port) serving one :class:`HubStore`."""

    def __init__(self, root: Path | None = None, tokens: dict[str, str] | None = None):
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="minihub-")
            root = Path(self._tmp.name)
        self.store = HubStore(Path(root), tokens or {})
        handler = type("Handler", (_Handler,), {"store": self.store})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def client_env(self, token: str | None = None, hf_home: Path | str | None = None, **extra: str) -> dict:
        """Environment for a client subprocess that talks to this server and nothing else."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(
            HF_ENDPOINT=self.url,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_ETAG_TIMEOUT="5",
            HF_HUB_DOWNLOAD_TIMEOUT="10",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        if hf_home is not None:
            env["HF_HOME"] = str(hf_home)
        if token is not None:
            env["HF_TOKEN"] = token
        env.update(extra)
        return env

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.store.repos[(repo_type, repo_id)]

    def requests_by(self, user: str | None = None) -> list[dict]:
        return [r for r in self.store.log if user is None or r["user"] == user]

    def stored_files(self) -> list[tuple[Repo, str, bytes]]:
        """``(repo, path, content)`` of every file in every commit of every repo: all that was uploaded."""
        with self.store.lock:
            versions = {
                (key, path, entry.sha256)
                for key, repo in self.store.repos.items()
                for commit in repo.commits.values()
                for path, entry in commit.files.items()
            }
        return [
            (self.store.repos[key], path, self.store.read_blob(sha)) for key, path, sha in sorted(versions)
        ]


try:  # the fixture is only defined when pytest is around
    import pytest

    @pytest.fixture
    def hub_server(tmp_path):
        """A fresh local Hub that knows the token ``hf_test_writer`` (user ``tester``)."""
        with HubServer(tmp_path / "hub", tokens={"hf_test_writer": "tester"}) as server:
            yield server

except ImportError:  # pragma: no cover
    pass


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", action="append", default=[], help="TOKEN=USER (repeatable)")
    cli = parser.parse_args()
    tokens = dict(t.split("=", 1) for t in cli.token)
    with HubServer(tokens=tokens) as srv:
        print(f"Local Hub at {srv.url}; export HF_ENDPOINT={srv.url} HF_HUB_DISABLE_XET=1", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
