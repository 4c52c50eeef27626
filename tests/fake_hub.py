"""A stand-in for the Hugging Face Hub on 127.0.0.1: serves local model directories under repo ids, with the
endpoints `huggingface_hub` uses to download a snapshot (model info at a revision, the file tree at a commit, HEAD
and GET of a file at a commit). Lets the tests fetch a real model "from the Hub" and then run with the network gone."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = repos
        self.requests: list[str] = []
        # One commit per repo: the digest of its files (as the Hub's commit hash names a snapshot).
        self.commits = {repo: hashlib.sha1(b"".join(sorted(f.read_bytes() for f in self._files(repo).values())))
                        .hexdigest() for repo in repos}

    def _files(self, repo: str) -> dict[str, Path]:
        root = self.repos[repo]
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}

    def handle(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(f"{method} {path}")
        parts = unquote(urlparse(path).path).strip("/").split("/")
        if parts[:2] == ["api", "models"] and "revision" in parts:
            at = parts.index("revision")
            repo = "/".join(parts[2:at])
            if repo not in self.repos:
                return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}'
            body = {"id": repo, "modelId": repo, "sha": self.commits[repo], "private": False, "gated": False,
                    "siblings": [{"rfilename": name} for name in self._files(repo)]}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        if parts[:2] == ["api", "models"] and "tree" in parts:
            at = parts.index("tree")
            repo = "/".join(parts[2:at])
            if repo not in self.repos:
                return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}'
            entries = [{"type": "file", "path": name, "size": f.stat().st_size,
                        "oid": hashlib.sha1(f.read_bytes()).hexdigest()} for name, f in self._files(repo).items()]
            return 200, {"Content-Type": "application/json"}, json.dumps(entries).encode()
        if "resolve" in parts:
            at = parts.index("resolve")
            repo, filename = "/".join(parts[:at]), "/".join(parts[at + 2:])
            files = self._files(repo) if repo in self.repos else {}
            if filename not in files:
                return 404, {"X-Error-Code": "EntryNotFound"}, b"not found"
            data = files[filename].read_bytes()
            return 200, {"X-Repo-Commit": self.commits[repo], "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                         "Content-Length": str(len(data))}, data
        return 404, {}, b"not found"


@contextmanager
def serve(repos: dict[str, Path]) -> Iterator[tuple[str, FakeHub]]:
    """(endpoint URL, the hub) while the server runs."""
    hub = FakeHub(repos)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, head_only: bool) -> None:
            status, headers, body = hub.handle(self.command, self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._reply(False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply(True)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hub
    finally:
        server.shutdown()
        server.server_close()
