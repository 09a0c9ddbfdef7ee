"""Tests of bench.websocket: its client's frames, and a short real run against each server."""

from pathlib import Path

import pytest
from websockets.frames import Frame, Opcode

from bench import websocket


def test_the_client_frame_is_a_masked_text_frame() -> None:
    frames = []

    def read_exact(n: int):  # type: ignore[no-untyped-def]
        nonlocal data
        chunk, data = data[:n], data[n:]
        return chunk
        yield

    data = websocket.masked(websocket.MESSAGE)
    parser = Frame.parse(read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frames.append(done.value)
    assert frames[0].opcode is Opcode.TEXT and frames[0].data == websocket.MESSAGE


@pytest.mark.parametrize("server", websocket.SERVERS, ids=lambda server: server.label)
def test_a_short_echo_run(server: websocket.IdleServer, tmp_path: Path) -> None:
    result = websocket.echo_rate(server, clients=4, duration=1.0, cpus=(0, 0), workdir=tmp_path)
    assert result["wrong"] == ""
    assert float(result["per_second"]) > 100  # type: ignore[arg-type]
