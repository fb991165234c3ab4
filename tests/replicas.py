"""Real `connective run --platform slack` processes (HTTP mode) against a fake Slack, for the replica,
shutdown and ops tests: start one, wait until /healthz says ready, scrape /metrics, stop it with SIGTERM."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.slack_fake import sign

SECRET = "replica-signing-secret"
TOKEN = "xoxb-replica-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    proc: asyncio.subprocess.Process
    http_port: int
    metrics_port: int

    @classmethod
    async def start(cls, db_url: str, slack_url: str, *, log: Any = asyncio.subprocess.PIPE) -> Replica:
        """`log`: where its stdout and stderr go (a file for long runs: a full pipe would stall it)."""
        http_port, metrics_port = free_port(), free_port()
        env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "CONNECTIVE_SLACK_API_URL": f"{slack_url}/api/", "CONNECTIVE_HTTP_PORT": str(http_port),
               "CONNECTIVE_METRICS_PORT": str(metrics_port), "CONNECTIVE_METRICS_HOST": "127.0.0.1",
               "CONNECTIVE_LOG_JSON": "true", "HF_HUB_OFFLINE": "1"}
        env.pop("SLACK_APP_TOKEN", None)
        env.pop("CONNECTIVE_SLACK_APP_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--db", db_url, "run", "--platform", "slack", env=env,
            stdout=log, stderr=log)
        return cls(proc, http_port, metrics_port)

    async def ready(self, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    _, err = await self.proc.communicate()
                    raise AssertionError(f"replica exited {self.proc.returncode}: {err.decode()[-3000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.metrics_port}/healthz") as r:
                        body = await r.json()
                        if r.status == 200:
                            return body
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError("replica never became healthy")

    async def event(self, payload: dict[str, Any]) -> int:
        body = json.dumps(payload)
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{self.http_port}/slack/events", data=body.encode(),
                headers={"Content-Type": "application/json", **sign(SECRET, body)}) as r:
            await r.read()
            return r.status

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples matching `labels` (0 when absent)."""
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            text = await r.text()
        return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    async def stop(self, timeout: float = 60.0) -> tuple[int, str]:
        """SIGTERM, then the exit code and stderr."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            _, err = await self.proc.communicate()
            return -9, (err or b"").decode()
        return self.proc.returncode, (err or b"").decode()


async def wait_until(check, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)
