# Serves the Python reference evidence API (nexisgen's FastAPI app, `nexis.api.app`) for
# `nexis bench api`, in this process (one uvicorn worker, as its Docker image runs it),
# with the chain replaced by the bench's embedded chain:
#   - the validator allowlist is read from the JSON list of hotkeys in
#     NEXIS_BENCH_ALLOWLIST (instead of a metagraph over the network);
#   - the current block is (now - NEXIS_BENCH_GENESIS_MS) / NEXIS_BENCH_BLOCK_MS, the
#     embedded chain's clock (instead of a subtensor query).
# Everything else (signature checks, nonces, PostgreSQL through asyncpg, the latest-results
# cache) is the reference's own code. It listens on NEXIS_BENCH_LISTEN (host:port) and
# reads its database from NEXIS_VALIDATION_API_POSTGRES_DSN. When the reference is not
# importable it prints one JSON line {"unavailable": why} and exits 3.
import json
import os
import sys
import time

try:
    import uvicorn
    import nexis.api.app as reference_app
    import nexis.api.metagraph_sync as reference_sync
except Exception as exc:  # the reference is not installed with this interpreter
    print(json.dumps({"unavailable": f"nexisgen's API is not importable with {sys.executable}: {exc}"}), flush=True)
    sys.exit(3)

GENESIS_MS = int(os.environ["NEXIS_BENCH_GENESIS_MS"])
BLOCK_MS = max(int(os.environ["NEXIS_BENCH_BLOCK_MS"]), 1)
with open(os.environ["NEXIS_BENCH_ALLOWLIST"], encoding="utf-8") as f:
    ALLOWED = {str(h): 1.0 for h in json.load(f)}


async def bench_current_block(*, network: str) -> int:
    return max(int(time.time() * 1000) - GENESIS_MS, 0) // BLOCK_MS


async def bench_refresh_once(self) -> dict:
    await self._cache.replace(ALLOWED)
    return dict(ALLOWED)


reference_app.fetch_current_block_async = bench_current_block
reference_sync.MetagraphAllowlistSync.refresh_once = bench_refresh_once

host, _, port = os.environ["NEXIS_BENCH_LISTEN"].rpartition(":")
uvicorn.run(reference_app.create_app(), host=host, port=int(port), log_level="warning", access_log=False)
