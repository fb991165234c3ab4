"""One scheduler replica in its own process, for the two-process test: `python -m tests.digest_worker
DB_URL PLATFORM_URL ISO_TIME` runs the digest catch-up once at that time and prints the outcomes."""
from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from bot.app import build_app
from bot.settings import Settings
from tests.fake_platform import Clock, FakePlatform, HttpSender


async def main(db_url: str, platform_url: str, when: str) -> None:
    app = build_app(Settings(database_url=db_url))
    platform = FakePlatform()
    platform.url = platform_url
    clock = Clock(datetime.fromisoformat(when))
    app.digests.clock = clock
    app.core.senders["slack"] = HttpSender(platform, clock)
    try:
        print(await app.digests.run_due(int(sys.argv[4])), flush=True)
    finally:
        await app.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
