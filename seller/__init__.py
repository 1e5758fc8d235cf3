"""The seller's account with the service: enrolment, monthly fee statements, refund claims.

Fees and claim eligibility are pure functions over the per-marketplace terms in ``data/``;
the modules that read the database only gather the numbers those functions take.
"""
