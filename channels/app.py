"""The FastAPI application factory: every channel and API is mounted here, nothing at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import BaseModel

from csba.services import load_demo_data, open_index, open_store
from csba.settings import Settings

log = logging.getLogger(__name__)


class EvidenceOut(BaseModel):
    asin: str
    marketplace: str
    language: str
    field: str
    text: str
    score: float


def create_app(settings: Settings, *, load_demo_if_empty: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store, index = open_store(settings), open_index(settings)
        if load_demo_if_empty and not store.page_keys():
            load_demo_data(store, index)
        app.state.store, app.state.index = store, index
        try:
            yield
        finally:
            app.state.index.close()

    app = FastAPI(title="csba", version="0.1.0", lifespan=lifespan,
                  summary="Customer service for seller-fulfilled marketplace orders")

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, object]:
        return {"status": "ok", "records": request.app.state.store.counts(),
                "chunks": request.app.state.index.lexical.count()}

    @app.get("/v1/knowledge/search", response_model=list[EvidenceOut])
    def knowledge_search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=1000, description="a question")],
        marketplace: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
        asin: Annotated[list[str] | None, Query()] = None,
        k: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> list[EvidenceOut]:
        """What the product pages say about a question: the evidence answers are built from."""
        if asin and any(len(a) != 10 for a in asin):
            raise HTTPException(422, "asin must be 10 characters")
        hits = request.app.state.index.search(q, marketplace=marketplace, asins=asin, k=k)
        return [EvidenceOut(asin=h.asin, marketplace=h.marketplace, language=h.language,
                            field=h.field, text=h.text, score=h.score) for h in hits]

    return app
