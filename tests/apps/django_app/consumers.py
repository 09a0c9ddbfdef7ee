"""A Django Channels consumer (tests/server/test_websocket.py): it answers each message."""

from channels.generic.websocket import AsyncWebsocketConsumer


class Echo(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send(text_data=f"django: {text_data}")
        else:
            await self.send(bytes_data=bytes_data)
