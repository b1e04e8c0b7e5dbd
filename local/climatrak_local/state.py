"""How CLI commands find the running local runtime: a state file written by `climatrak local up`.

`$CLIMATRAK_HOME/runtime.json` (default `~/.climatrak/runtime.json`), readable only by its
owner because it holds the runtime's JWT secret. It is removed when the runtime stops.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from climatrak.core import aws

NOT_RUNNING = "no local runtime is running; start it with `climatrak local up`"


class RuntimeNotRunning(Exception):
    def __init__(self, detail: str = NOT_RUNNING) -> None:
        super().__init__(detail)


@dataclass(frozen=True)
class RuntimeState:
    pid: int
    api_url: str
    api_port: int
    mqtt_port: int
    moto_port: int
    endpoint_url: str
    jwt_secret: str
    # The environment the runtime gave its handlers; CLI commands adopt it to use repositories.
    environment: dict[str, str]


def home() -> Path:
    return Path(os.environ.get("CLIMATRAK_HOME") or Path.home() / ".climatrak")


def state_path() -> Path:
    return home() / "runtime.json"


def write_state(state: RuntimeState) -> Path:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(asdict(state), file, indent=2)
    os.chmod(temporary, 0o600)  # the file may have existed with wider permissions
    os.replace(temporary, path)  # readers never see a half-written file
    return path


def clear_state(pid: int | None = None) -> None:
    """Removes the state file; with `pid`, only if that process wrote it."""
    path = state_path()
    if pid is not None:
        try:
            if json.loads(path.read_text()).get("pid") != pid:
                return
        except (OSError, ValueError):
            return
    path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def read_state() -> RuntimeState:
    """The running runtime's state; RuntimeNotRunning if there is none or its process is gone."""
    try:
        raw: dict[str, Any] = json.loads(state_path().read_text())
        state = RuntimeState(**raw)
    except FileNotFoundError as error:
        raise RuntimeNotRunning() from error
    except (OSError, ValueError, TypeError) as error:
        raise RuntimeNotRunning(f"{NOT_RUNNING} (unreadable state file {state_path()}: {error})") from error
    if not _process_alive(state.pid):
        raise RuntimeNotRunning(f"{NOT_RUNNING} (stale state file from pid {state.pid})")
    return state


def connect_env() -> RuntimeState:
    """Points this process at the running runtime (os.environ + fresh boto3 clients), so CLI
    commands can call the product's logic and repositories directly."""
    state = read_state()
    os.environ.update(state.environment)
    aws.reset_clients()
    return state
