"""The publish/subscribe hub (porch/web/channels.py): rooms, order, a subscriber that falls
behind, and a backend that carries messages between hubs as between processes."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from porch.web.channels import Hub, Overflow


def test_rooms_fan_out_in_order() -> None:
    async def main() -> None:
        hub = Hub()
        async with (
            hub.subscribe("a") as first,
            hub.subscribe("a") as second,
            hub.subscribe("b") as other,
        ):
            assert hub.members("a") == 2
            assert await hub.publish("a", 1) == 2
            assert await hub.publish("a", {"n": 2}) == 2
            assert await hub.publish("b", "b only") == 1
            assert [await anext(first), await anext(first)] == [1, {"n": 2}]
            assert [await anext(second), await anext(second)] == [1, {"n": 2}]
            assert await anext(other) == "b only"
        assert hub.members("a") == 0
        assert await hub.publish("a", "nobody") == 0

    asyncio.run(main())


def test_a_subscriber_that_falls_behind_is_dropped() -> None:
    async def main() -> None:
        hub = Hub(backlog=3)
        async with hub.subscribe("r") as slow, hub.subscribe("r") as quick:
            for n in range(5):
                await hub.publish("r", n)  # never waits for the slow one
                assert await anext(quick) == n
            with pytest.raises(Overflow, match="more than 3"):
                for _ in range(4):
                    await anext(slow)
            assert slow.dropped
            assert await hub.publish("r", "next") == 1  # the quick one only

    asyncio.run(main())


class Bus:
    """A backend shared by several hubs, as Redis would be by several processes."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[str, Any], int]] = []

    async def publish(self, room: str, message: Any) -> None:
        for deliver in self.listeners:
            deliver(room, message)

    async def listen(self, deliver: Callable[[str, Any], int]) -> None:
        self.listeners.append(deliver)
        try:
            await asyncio.Event().wait()
        finally:
            self.listeners.remove(deliver)


def test_a_backend_carries_messages_between_hubs() -> None:
    async def main() -> None:
        bus = Bus()
        one, two = Hub(backend=bus), Hub(backend=bus)
        listening = [asyncio.create_task(hub.listen()) for hub in (one, two)]
        await asyncio.sleep(0)
        async with one.subscribe("r") as here, two.subscribe("r") as there:
            await one.publish("r", "hello")
            assert await anext(here) == "hello"
            assert await anext(there) == "hello"
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
        assert bus.listeners == []
        with pytest.raises(RuntimeError, match="without a backend"):
            await Hub().listen()

    asyncio.run(main())
