"""Proof: ``csba serve`` survives its model process being killed while it starts, and a model
process that cannot run at all ends the start with a precise error and a non-zero exit.

Real ``csba serve`` processes on loopback; the model process is SIGKILLed as it loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scale.serving import prepare_data_dir
from tests.support.model_process import kill_first_model_child
from tests.support.net import answers, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo US pages, orders and sellers, ingested: the server loads nothing itself."""
    path = tmp_path_factory.mktemp("model-start") / "data"
    prepare_data_dir(path)
    return path


def serve(data_dir: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    port = free_port()
    exe = shutil.which("csba") or str(Path(sys.executable).with_name("csba"))
    with log.open("ab") as out:
        return subprocess.Popen(
            # One process: the model process is the server's own child.
            [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env={**os.environ, "CSBA_DATA_DIR": str(data_dir), "CSBA_SMTP_PORT": str(free_port()),
                 "CSBA_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "HF_HUB_OFFLINE": "1",
                 "TRANSFORMERS_OFFLINE": "1", **env},
            stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture()
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    servers: list[subprocess.Popen[bytes]] = []
    yield servers
    for proc in servers:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def url_of(proc: subprocess.Popen[bytes]) -> str:
    port = proc.args[proc.args.index("--port") + 1]  # type: ignore[union-attr,index]
    return f"http://127.0.0.1:{port}"


def test_the_server_comes_up_and_answers_after_its_model_process_is_killed_while_starting(
        data_dir: Path, tmp_path: Path, stopped: list[subprocess.Popen[bytes]]) -> None:
    log = tmp_path / "server.log"
    proc = serve(data_dir, log)
    stopped.append(proc)
    killed = kill_first_model_child(proc.pid, set())
    assert answers(f"{url_of(proc)}/healthz", proc, 240), log.read_text(errors="replace")
    text = log.read_text(errors="replace")
    assert "embedding process died while the server started (1 of 3)" in text
    assert f"embedding process {killed} serving" not in text
    with httpx.Client(base_url=url_of(proc), timeout=60) as client:
        started = client.post("/v1/conversations", json={"marketplace": "US"})
        assert started.status_code == 201, started.text
        conversation = started.json()["conversation_id"]
        reply = client.post(f"/v1/conversations/{conversation}/messages",
                            headers={"X-Conversation-Secret":
                                     started.json()["conversation_secret"]},
                            json={"text": "Is the headlamp waterproof?",
                                  "client_message_id": "m-1"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["text"]


def test_a_model_process_that_always_dies_makes_the_server_exit_with_the_cause(
        data_dir: Path, tmp_path: Path, stopped: list[subprocess.Popen[bytes]]) -> None:
    log = tmp_path / "server.log"
    missing = tmp_path / "no-such-model"
    proc = serve(data_dir, log, CSBA_EMBEDDING_MODEL=str(missing))
    stopped.append(proc)
    assert proc.wait(timeout=300) == 1
    text = " ".join(log.read_text(errors="replace").split())  # the console wraps long lines
    assert "csba serve could not start:" in text
    assert (f"the embedding process ({missing}) died 3 times while the server started; "
            "giving up.") in text
    assert "(exit code 1)" in text
