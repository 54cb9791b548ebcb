"""Commands to a run that trains in another process, through a small folder in its run folder.

    send(run_dir, "pause")                         # the dashboard, or anyone who can write the folder
    send(run_dir, "steer", g_learning_rate=1e-4)
    inbox = Inbox(run_dir); inbox.take()           # the engine, between two graph calls

Each command is one small JSON file in `<run>/commands/`, written under a hidden name and renamed
into place, so the engine never reads half of one. File names start with the time in nanoseconds,
so the engine applies them in the order they were sent, and two senders never write the same file.
The engine deletes each command once applied and writes the outcome into status.json
(`last_command`), where the sender reads it back. A folder rather than one file: two commands sent
between two polls are both applied, and nobody rewrites what somebody else wrote. It works wherever
the run folder is: a local disk, a shared one, a bucket (through gan_core.storage).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

COMMANDS = ("pause", "resume", "stop", "steer")
FOLDER = "commands"
POLL_SECONDS = 1.0  # how often a training run looks for commands (a listing of a small folder)


class CommandError(ValueError):
    """A command that cannot be sent: unknown, or a steer without settings."""


def _folder(run_dir) -> Path:
    from gan_core.runs import RunDir

    return RunDir(run_dir).path / FOLDER


def send(run_dir, command: str, **changes: Any) -> str:
    """Leave `command` for the process that trains the run in `run_dir`; returns the command's id.

    The run applies it at its next poll (every POLL_SECONDS between graph calls, also while paused)
    and reports the outcome in status.json's `last_command` ({"id", "command", "ok", "error", "step"})."""
    if command not in COMMANDS:
        raise CommandError(f"unknown command {command!r}; choose one of: {', '.join(COMMANDS)}")
    if (command == "steer") != bool(changes):
        raise CommandError("steer takes the settings to change; the other commands take none")
    folder = _folder(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    command_id = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    body = {"command": command, "changes": changes, "sent": time.time(), "from": socket.gethostname()}
    hidden = folder / f".{command_id}.tmp"
    hidden.write_text(json.dumps(body))
    hidden.replace(folder / f"{command_id}.json")
    return command_id


class Inbox:
    """The commands left for one run, taken in the order they were sent."""

    def __init__(self, run_dir, poll_seconds: float = POLL_SECONDS):
        self.folder = _folder(run_dir)
        self.poll_seconds = poll_seconds
        self._last = -float("inf")

    def due(self) -> bool:
        """Time to look again (at most every poll_seconds: a listing costs a little, remotely more)."""
        return time.monotonic() - self._last >= self.poll_seconds

    def take(self) -> list[tuple[str, dict[str, Any] | None]]:
        """(id, command) for every command waiting, oldest first, each deleted as it is taken. A file that
        is not a readable command gives (id, None), so the engine can say it was refused."""
        self._last = time.monotonic()
        try:
            names = sorted(p.name for p in self.folder.iterdir() if p.name.endswith(".json") and p.name[0] != ".")
        except OSError:  # no folder yet: nobody has sent anything
            return []
        taken = []
        for name in names:
            path = self.folder / name
            try:
                body = json.loads(path.read_text())
            except (OSError, ValueError):
                body = None
            try:
                path.unlink()
            except OSError:
                continue  # taken by someone else meanwhile (a second engine would be an error of its own)
            valid = isinstance(body, dict) and body.get("command") in COMMANDS and isinstance(body.get("changes"), dict)
            taken.append((name.removesuffix(".json"), body if valid else None))
        return taken
