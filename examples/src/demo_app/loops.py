"""Event-loop plumbing with the classic mistakes (scanner demo: GG001, GG002, GG008)."""

from __future__ import annotations

import asyncio as aio
import time


async def fetch_price(sku: str) -> float:
    loop = aio.get_event_loop()  # GG001, fixable: `gridgate scan --fix` -> get_running_loop()
    return await loop.run_in_executor(None, len, sku)


async def wait_for_warehouse() -> None:
    time.sleep(0.1)  # GG008: blocks the event loop


def price_now(sku: str) -> float:
    loop = aio.new_event_loop()
    try:
        return loop.run_until_complete(fetch_price(sku))  # GG002: library code owns a loop
    finally:
        loop.close()
