import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from climatrak_local import state


@pytest.fixture(autouse=True)
def climatrak_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLIMATRAK_HOME", str(tmp_path))
    return tmp_path


def a_state(pid: int) -> state.RuntimeState:
    return state.RuntimeState(
        pid=pid,
        api_url="http://127.0.0.1:3999",
        api_port=3999,
        mqtt_port=1999,
        moto_port=5999,
        endpoint_url="http://127.0.0.1:5999",
        jwt_secret="s3cret",
        environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:5999", "MAIN_TABLE": "climatrak-main"},
    )


def test_state_round_trips_and_is_private(climatrak_home: Path) -> None:
    path = state.write_state(a_state(os.getpid()))

    assert path == climatrak_home / "runtime.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert state.read_state() == a_state(os.getpid())


def test_no_state_file_means_not_running() -> None:
    with pytest.raises(state.RuntimeNotRunning, match="climatrak local up"):
        state.read_state()


def test_state_of_a_dead_process_is_stale() -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    state.write_state(a_state(int(finished.stdout)))

    with pytest.raises(state.RuntimeNotRunning, match="no local runtime is running"):
        state.read_state()


def test_clear_state_only_removes_its_own_file(climatrak_home: Path) -> None:
    state.write_state(a_state(os.getpid()))

    state.clear_state(pid=os.getpid() + 1)
    assert (climatrak_home / "runtime.json").exists()

    state.clear_state(pid=os.getpid())
    assert not (climatrak_home / "runtime.json").exists()


def test_connect_env_points_this_process_at_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MAIN_TABLE", raising=False)
    state.write_state(a_state(os.getpid()))

    state.connect_env()

    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
    assert os.environ["MAIN_TABLE"] == "climatrak-main"
