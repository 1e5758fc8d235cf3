"""The dense leg against a real Chroma server (``chroma run``) on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_huggingface import HuggingFaceEmbeddings

from csba.settings import Settings
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from tests.support.net import free_port

pytestmark = pytest.mark.slow


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server"), "--host",
                             "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chroma server did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_index_works_against_a_chroma_server(chroma_server: str, tmp_path: Path,
                                             embeddings: HuggingFaceEmbeddings,
                                             demo_pages: list[ProductPage]) -> None:
    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma_server,  # type: ignore[arg-type]
                        _env_file=None)  # type: ignore[call-arg]
    index = KnowledgeIndex.open(settings, embeddings=embeddings)
    pages = [p for p in demo_pages if p.marketplace == "UK"][:3]
    report = index.sync(pages)
    assert report.added > 0 and not (settings.data_dir / "chroma").exists()
    assert index.sync(pages).added == 0
    hits = index.search(pages[0].title, marketplace="UK", k=3)
    assert hits[0].asin == pages[0].asin and hits[0].dense_rank is not None
    index.close()
