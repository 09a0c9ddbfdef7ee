"""A chat with rooms: messages go over a WebSocket per room, and the list of who is online
comes as server-sent events. Plain HTML and a little JavaScript, no build step.

    porch run app:app --app-dir examples/chat      # then open http://127.0.0.1:8000

One process's hub carries the messages (porch.web.channels): run it with one worker.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated

from porch import App, Event, EventStream, Query, WebSocket, render
from porch.web.channels import Hub, Overflow

app = App(__name__)
hub = Hub()
online: Counter[str] = Counter()  # name -> open connections
PRESENCE = "presence"  # the hub's room where joining and leaving are announced
Name = Annotated[str, Query(min_length=1, max_length=30, pattern=r"^[\w .-]+$")]


@app.get("/")
def index() -> str:
    return render("index.html")


@app.websocket("/ws/rooms/<slug:room>")
async def chat(ws: WebSocket, room: str, name: Name) -> None:
    await ws.accept()
    online[name] += 1
    await hub.publish(PRESENCE, None)
    try:
        async with hub.subscribe(room) as said:

            async def forward() -> None:
                try:
                    async for message in said:
                        await ws.send_json(message)
                except Overflow:
                    await ws.close(1013, "too far behind; reconnect")

            sending = asyncio.create_task(forward())
            try:
                async for text in ws.iter_text():
                    text = text.strip()[:500]
                    if text:
                        await hub.publish(room, {"name": name, "text": text})
            finally:
                sending.cancel()
    finally:
        online[name] -= 1
        if not online[name]:
            del online[name]
        await hub.publish(PRESENCE, None)


@app.get("/online")
async def who_is_online() -> EventStream:
    async def events() -> AsyncIterator[Event]:
        async with hub.subscribe(PRESENCE) as changes:
            yield Event(data=sorted(online), event="online")
            async for _ in changes:
                yield Event(data=sorted(online), event="online")

    return EventStream(events())
