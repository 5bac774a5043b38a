"""Checks `nexis api` responses against the response models of the reference server.

The models below state the wire contract of the Python reference server
(ykatyhoney/nexisgen, nexis/api/schemas.py): the field names, types and bounds of each
response. Extra fields are allowed (pydantic's default), as in the reference's clients.

Usage: python reference_models.py RESPONSES.json
RESPONSES.json is a list of {"model": NAME, "body": RAW_JSON_TEXT}. Exit status 0 when
every body parses with its model; otherwise the failures are printed and the status is 1.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from pydantic import BaseModel, Field


class IngestResponse(BaseModel):
    saved: int = Field(ge=0)
    validator_hotkey: str
    interval_id: int = Field(ge=0)


class StoredDecision(BaseModel):
    interval_id: int = Field(ge=0)
    validator_hotkey: str
    miner_hotkey: str
    accepted: bool
    failures: list[str] = Field(default_factory=list)
    record_count: int = Field(default=0, ge=0)
    global_overlap_pruned_count: int = Field(default=0, ge=0)
    cross_miner_overlap_pruned_count: int = Field(default=0, ge=0)
    signature: str
    timestamp: int
    nonce: str
    body_sha256: str
    received_at: datetime


class QueryResponse(BaseModel):
    validator_hotkey: str
    interval_id: int = Field(ge=0)
    decisions: list[StoredDecision] = Field(default_factory=list)


class LatestResultDecision(BaseModel):
    interval_id: int = Field(ge=0)
    validator_hotkey: str
    miner_hotkey: str
    accepted: bool
    failures: list[str] = Field(default_factory=list)
    record_count: int = Field(default=0, ge=0)
    global_overlap_pruned_count: int = Field(default=0, ge=0)
    cross_miner_overlap_pruned_count: int = Field(default=0, ge=0)
    received_at: datetime


class LatestResultResponse(BaseModel):
    current_block: int = Field(ge=0)
    start_interval_id: int = Field(ge=0)
    end_interval_id: int = Field(ge=0)
    refreshed_every_blocks: int = Field(ge=1)
    cached_at: datetime
    decisions: list[LatestResultDecision] = Field(default_factory=list)


class InvalidHotkeysWindowResponse(BaseModel):
    interval_id: int = Field(ge=0)
    window_start_interval_id: int = Field(ge=0)
    window_end_interval_id: int = Field(ge=0)
    invalid_hotkeys: list[str] = Field(default_factory=list)


class BlacklistResponse(BaseModel):
    blacklist_hotkeys: list[str] = Field(default_factory=list)


class InvalidHotkeysIngestResponse(BaseModel):
    validator_hotkey: str
    interval_id: int = Field(ge=0)
    saved_count: int = Field(ge=0)


class Health(BaseModel):
    status: str


MODELS = {
    m.__name__: m
    for m in [
        IngestResponse,
        QueryResponse,
        LatestResultResponse,
        InvalidHotkeysWindowResponse,
        BlacklistResponse,
        InvalidHotkeysIngestResponse,
        Health,
    ]
}


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        responses = json.load(f)
    failures = []
    for i, r in enumerate(responses):
        try:
            MODELS[r["model"]].model_validate_json(r["body"])
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append(f"#{i} {r['model']}: {e}")
    print(f"{len(responses) - len(failures)} of {len(responses)} responses parse")
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
