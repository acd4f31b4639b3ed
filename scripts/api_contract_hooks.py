"""Schemathesis hooks of scripts/api-contract.sh.

A schema can say that a `mask` part is a file, not that it must be a decodable
PNG or TIFF; random bytes are rightly refused (400). So in the cases generated
as valid (positive mode), every uploaded mask is replaced by a real sample mask
(CDS_CONTRACT_MASK); negative cases keep what was generated.
"""

import os

import schemathesis

with open(os.environ["CDS_CONTRACT_MASK"], "rb") as f:
    MASK = f.read()


@schemathesis.hook
def map_case(context, case):
    body = case.body
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if (
        positive
        and (case.media_type or "").startswith("multipart/")
        and isinstance(body, dict)
        and isinstance(body.get("mask"), list)
    ):
        body["mask"] = [MASK for _ in body["mask"]]
    return case
