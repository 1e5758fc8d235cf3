"""The seller's account API (``/v1/seller/...``, the seller's bearer token): enrolment,
statements, the refund ledger and claims, one router each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, Response

from base.money import Marketplace
from portal.account import (
    CONFLICT,
    Account,
    EnrolmentOut,
    RefundOut,
    statements_download,
)
from portal.deps import SellerDep
from seller.claims import MAX_DESCRIPTION, ClaimPublic, ClaimRequest, ClaimStatus, claims_of
from seller.enrolment_terms import EnrolmentTerms
from seller.evidence import MAX_PHOTO_BYTES
from seller.statements import Statement


def enrolment_api(account: Account) -> APIRouter:
    router = APIRouter(tags=["seller account"])

    @router.get("/v1/seller/enrolment")
    def read_enrolment(seller_id: SellerDep) -> EnrolmentOut:
        """Enrolment periods; the free trial runs once, from the first enrolment."""
        return account.enrolment(seller_id)

    @router.get("/v1/seller/enrolment/terms")
    def read_enrolment_terms(seller_id: SellerDep) -> EnrolmentTerms:
        """What the service covers, the fee tables with their VTR rates, the free trial and
        how to opt out: what the portal shows before a seller enrols."""
        return account.terms(seller_id)

    @router.post("/v1/seller/enrolment", responses=CONFLICT)
    def post_enrolment(seller_id: SellerDep) -> EnrolmentOut:
        """Enrol (or enrol again) from today; orders placed from today on are covered."""
        return account.change_enrolment(seller_id, "enrol")

    @router.post("/v1/seller/enrolment/opt-out", responses=CONFLICT)
    def post_opt_out(seller_id: SellerDep) -> EnrolmentOut:
        """Opt out from today: orders placed from today on go to the seller."""
        return account.change_enrolment(seller_id, "opt_out")

    return router


def statements_api(account: Account) -> APIRouter:
    router = APIRouter(tags=["seller account"])

    @router.get("/v1/seller/statements/{month}")
    def read_statements(seller_id: SellerDep, month: str,
                        marketplace: Annotated[Marketplace | None, Query()] = None
                        ) -> list[Statement]:
        """The month's fee statements, one per marketplace (``month`` is YYYY-MM)."""
        return account.statements(seller_id, month, marketplace).statements

    @router.get("/v1/seller/statements/{month}/csv", response_class=Response)
    def read_statements_csv(seller_id: SellerDep, month: str,
                            marketplace: Annotated[Marketplace | None, Query()] = None
                            ) -> Response:
        return statements_download(account.statements(seller_id, month, marketplace), month)

    @router.get("/v1/seller/refunds")
    def read_refunds(seller_id: SellerDep) -> list[RefundOut]:
        """The refund ledger: every refund issued on the seller's orders, newest first."""
        return account.refunds(seller_id)

    return router


def claims_api(account: Account) -> APIRouter:
    router = APIRouter(tags=["seller account"])

    @router.post("/v1/seller/claims", status_code=201, responses={
        404: {"description": "no such order of this seller"}, **CONFLICT,
        413: {"description": "a photo is too large"},
        415: {"description": "a photo is not a JPEG, PNG or WebP image"}})
    def post_claim(
        seller_id: SellerDep,
        order_id: Annotated[str, Form(min_length=1, max_length=32)],
        reason: Annotated[str, Form(min_length=1, max_length=48)],
        description: Annotated[str, Form(max_length=MAX_DESCRIPTION)] = "",
        tracking_id: Annotated[str | None, Form(max_length=64)] = None,
        signature_confirmed: Annotated[bool, Form()] = False,
        refund_id: Annotated[int | None, Form(
            description="the refund claimed (GET /v1/seller/refunds); may be left out when "
                        "the order has one refund of the service not claimed yet")] = None,
        photos: Annotated[list[UploadFile] | None, File(
            description=f"JPEG, PNG or WebP, at most {MAX_PHOTO_BYTES} bytes each")] = None,
    ) -> ClaimPublic:
        """File a claim on one refund the service issued (one claim per refund; refunds the
        seller issued on the order do not count); eligibility is checked first, and a
        refused claim stores nothing."""
        return account.submit_claim(seller_id, ClaimRequest(
            order_id=order_id.strip(), reason=reason.strip(), description=description.strip(),
            tracking_id=(tracking_id or "").strip() or None,
            signature_confirmed=signature_confirmed, refund_id=refund_id), photos or [])

    @router.get("/v1/seller/claims")
    def list_claims(seller_id: SellerDep,
                    status: Annotated[ClaimStatus | None, Query()] = None) -> list[ClaimPublic]:
        return claims_of(account.store, seller_id, status)

    @router.get("/v1/seller/claims/{claim_id}")
    def read_claim(seller_id: SellerDep, claim_id: str) -> ClaimPublic:
        return account.claim(claim_id, seller_id)

    @router.get("/v1/seller/claims/{claim_id}/evidence/{sha256}", response_class=FileResponse)
    def read_evidence(seller_id: SellerDep, claim_id: str, sha256: str) -> FileResponse:
        return account.evidence_file(account.claim(claim_id, seller_id), sha256)

    return router
