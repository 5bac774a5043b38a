# Runs the Python reference validator (nexisgen's ValidatorPipeline) over the packages of
# `nexis bench subnet`, one miner after another as its validator does, and prints one JSON
# line: {"wall_s", "accepted", "packages"}, or {"unavailable": why}.
#
# Usage: python reference-validate.py S3_ROOT [INTERVAL [VALIDATOR_HOTKEY]]
#   S3_ROOT holds one directory per bucket with the package under `{INTERVAL}/` (default 0);
#   VALIDATOR_HOTKEY, when given, is the validator whose hotkey salts row sampling.
# The reference reads each bucket through a local-directory store with the interface its
# R2 store offers (download_file, object_exists, get_object_last_modified): files are
# copied, not fetched over HTTP, which only makes the reference faster. Its model checks
# are off (the bench reports the model time they would add); its miner cap (35 per
# interval) is lifted so it validates every package, like the bench's validator.
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import nexis.validator.sampling as sampling
    from nexis.validator.pipeline import ValidatorPipeline
except Exception as exc:  # the reference is not installed with this interpreter
    print(json.dumps({"unavailable": f"nexisgen is not importable with {sys.executable}: {exc}"}))
    sys.exit(0)


class DirStore:
    def __init__(self, root: Path):
        self.root = root

    async def object_exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    async def download_file(self, key: str, target) -> bool:
        source = self.root / key
        if not source.is_file():
            return False
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return True

    def get_object_last_modified(self, key: str):
        return datetime.fromtimestamp((self.root / key).stat().st_mtime, tz=timezone.utc)


def main() -> None:
    root = Path(sys.argv[1])
    interval = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    validator = sys.argv[3] if len(sys.argv) > 3 else None
    stores = {}
    for bucket in sorted(root.iterdir()):
        manifest = bucket / str(interval) / "manifest.json"
        if manifest.is_file():
            stores[json.loads(manifest.read_text())["miner_hotkey"]] = DirStore(bucket)
    sampling.MINER_SAMPLE_MAX = len(stores)
    pipeline = ValidatorPipeline(
        lambda hotkey: stores[hotkey], expected_category="nature_landscape_scenery", validator_hotkey=validator
    )
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        decisions, _ = asyncio.run(
            pipeline.validate_interval(candidate_hotkeys=list(stores), interval_id=interval, workdir=Path(work))
        )
        wall = time.perf_counter() - started
    accepted = sum(1 for d in decisions if d.accepted)
    failures = sorted({f for d in decisions for f in d.failures})[:5]
    print(json.dumps({"wall_s": wall, "accepted": accepted, "packages": len(decisions), "failures": failures}))


if __name__ == "__main__":
    main()
