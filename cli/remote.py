"""The ``axiom`` CLI from a laptop: configuration, exception and monitoring commands through the API.

Remote mode is on when ``AXIOM_URL`` is set (with ``AXIOM_API_KEY``), or after ``axiom login URL``,
which stores the URL and a session token in ``<user config dir>/axiom/credentials.json`` (mode 0600)
until ``axiom logout``. ``up``, the roles and ``db`` always work on this host.

A remote ``apply`` sends each item with PUT (destinations, crosswalks and sources before the rulesets
that name them), so unlike a local apply it is not all or nothing: each item is validated on its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from cli.config_files import KINDS, file_items, kind_key, read_config
from cli.config_verbs import DELETE_ORDER, check_output, print_description, print_items, render_diff

API = "/api/v1"
CONFIG = f"{API}/config"
TIMEOUT = 30.0


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "axiom" / "credentials.json"


@dataclass(frozen=True)
class Remote:
    url: str
    headers: dict[str, str]

    def request(self, method: str, path: str, json_body: Any = None) -> Any:
        """One API call; the standard library's client keeps a light command's start-up short (httpx
        and its dependencies alone take longer to import than the 0.3 s a command may take)."""
        import urllib.error
        import urllib.request

        data = None if json_body is None else json.dumps(json_body).encode()
        headers = {**self.headers, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.url.rstrip("/") + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                detail = json.loads(text).get("detail", text)
            except ValueError:
                detail = text
            raise RemoteError(f"{method} {path}: {exc.code} {detail}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"cannot reach {self.url}: {reason}") from None
        return json.loads(body) if body else None

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        return {item["name"]: item for item in self.request("GET", f"{CONFIG}/{kind}")}


class RemoteError(RuntimeError):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def target() -> Remote | None:
    """The API to talk to, or None for local mode."""
    url = os.environ.get("AXIOM_URL", "")
    key = os.environ.get("AXIOM_API_KEY", "")
    if url and key:
        return Remote(url, {"X-API-Key": key})
    path = credentials_path()
    if path.exists():
        stored = json.loads(path.read_text())
        if not url or url.rstrip("/") == stored["url"].rstrip("/"):
            return Remote(stored["url"], {"Authorization": f"Bearer {stored['token']}"})
    if url:
        raise typer.BadParameter("AXIOM_URL is set: set AXIOM_API_KEY too, or run `axiom login`")
    return None


def login(url: str, username: str, password: str) -> Path:
    token = Remote(url, {}).request(
        "POST", f"{API}/auth/login", json_body={"username": username, "password": password}
    )
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url, "token": token["access_token"]}, out)
    os.chmod(path, 0o600)  # an older file keeps its mode on O_TRUNC
    return path


def run(remote: Remote, verb: str, **kwargs: Any) -> int:
    """Run one verb; an API error is a message and exit status 1 (2 for a rejected request)."""
    try:
        return int(VERBS[verb](remote, **kwargs))
    except RemoteError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2 if exc.status in (400, 422) else 1


def _get(remote: Remote, kind: str, output: str, name: str | None = None) -> int:
    check_output(output)
    key = kind_key(kind)
    if key == "peers":
        raise RemoteError("the API does not serve peers: run `axiom get peers` on the server")
    items = list(remote.items(key).values())
    if name is not None:
        items = [item for item in items if item["name"] == name]
        if not items:
            typer.echo(f"error: no {key.removesuffix('s')} named {name!r}", err=True)
            return 1
    print_items(key, items, output)
    return 0


def _plan(remote: Remote, source: str, prune: bool) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    wanted = file_items(read_config(source))
    before = {kind: remote.items(kind) for kind in wanted if kind != "peers"}
    if "peers" in wanted:
        raise RemoteError("peers are applied on the server (axiom apply there); leave them out of this file")
    after = {kind: {**before[kind], **wanted[kind]} for kind in before}
    deleted = [
        f"{k}/{n}" for k in DELETE_ORDER if k in before for n in sorted(set(before[k]) - set(wanted[k]))
    ]
    if prune:
        for item in deleted:
            kind, name = item.split("/", 1)
            del after[kind][name]
    return before, after, deleted if prune else []


def _apply(remote: Remote, source: str, dry_run: bool = False, prune: bool = False) -> int:
    before, after, deleted = _plan(remote, source, prune)
    if dry_run:
        typer.echo(render_diff(before, after) or "no changes\n", nl=False)
        typer.echo("(dry run)" + (f" would delete {', '.join(deleted)}" if deleted else ""))
        return 0
    results = []
    for kind in KINDS:
        for name, item in after.get(kind, {}).items():
            if before[kind].get(name) != item:
                change = remote.request("PUT", f"{CONFIG}/{kind}/{name}", json_body=item)
                results.append(f"{kind}/{name} {change['result']}")
    for item in deleted:
        remote.request("DELETE", f"{CONFIG}/{item}")
        results.append(f"{item} deleted")
    typer.echo("\n".join(results) if results else "unchanged")
    return 0


def _diff(remote: Remote, source: str, prune: bool = False) -> int:
    before, after, _ = _plan(remote, source, prune)
    text = render_diff(before, after)
    typer.echo(text, nl=False)
    return 1 if text else 0


def _delete(remote: Remote, kind: str, name: str) -> int:
    key = kind_key(kind)
    change = remote.request("DELETE", f"{CONFIG}/{key}/{name}")
    typer.echo(f"{key}/{name} {change['result']}")
    return 0


def _describe(remote: Remote, name: str) -> int:
    health = {row["name"]: row for row in remote.request("GET", f"{API}/monitoring/destinations")}
    if name not in health:
        typer.echo(f"error: no destination named {name!r}", err=True)
        return 1
    row = health[name]
    fields = ("circuit", "consecutive_failures", "backlog", "dead_letters", "last_error", "last_error_at")
    print_description(remote.request("GET", f"{CONFIG}/destinations/{name}"), {f: row.get(f) for f in fields})
    return 0


def _retry(remote: Remote, action: str, ids: list[int], selection: dict[str, Any]) -> int:
    body: dict[str, Any] = {"action": action, **({"ids": ids} if ids else {"filter": selection})}
    result = remote.request("POST", f"{API}/exceptions/bulk", json_body=body)
    typer.echo(
        f"{action}: {result['requested']} rows; "
        + ", ".join(f"{k}: {v}" for k, v in result["outcomes"].items())
    )
    for exception_id, error in result["errors"].items():
        typer.echo(f"{exception_id}: {error}", err=True)
    return 1 if result["errors"] else 0


VERBS: dict[str, Any] = {
    "get": _get,
    "apply": _apply,
    "diff": _diff,
    "delete": _delete,
    "describe": _describe,
    "exceptions": _retry,
}
