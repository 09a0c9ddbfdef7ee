"""How a serving process sets Python's garbage collector (see tune_garbage_collector)."""

import gc

# The young generation's size past which Python collects it: its own default, and porch's.
PYTHON_GC_THRESHOLD = 700
PORCH_GC_THRESHOLD = 10_000
# Objects a request in flight holds (its task, scope, cycle...), and the most requests a loop
# starts at once (uvloop polls at most 1,024 ready sockets at a time).
OBJECTS_PER_REQUEST = 50
POLL_BATCH = 1024


def tune_garbage_collector() -> bool:
    """Set the garbage collector for serving, once the application has started; whether porch
    now sets the young generation's size (not if the application set its own).

    PERF: with many connections, many requests are in flight at once, and the objects they
    hold live across the young generation's collections (every 700 allocations by default):
    promoted, they make the older generations' collections come often and scan every live
    object. Measured on raw ASGI at 1,000 connections: 3,300 young, 300 middle and 27 full
    collections in 8 s, 9% of the time; a young generation of 10,000 lets those objects die
    young (+11% requests/s), and freezing what the application made at startup (modules,
    routes, templates) keeps the full collections from scanning it (+18% with both; 5,000
    connections +14%; 64 connections unchanged). An application that set its own threshold
    keeps it. Past that, the young generation follows the connections open (young_generation).
    """
    gc.freeze()
    young, *older = gc.get_threshold()
    if young != PYTHON_GC_THRESHOLD:
        return False
    gc.set_threshold(PORCH_GC_THRESHOLD, *older)
    return True


def young_generation(connections: int) -> int:
    """The young generation's size for this many open connections: room for the objects of
    every request one turn of the loop may start, so that they die young.

    PERF: at 5,000 connections a turn starts up to 1,024 requests, whose objects (about 20,000
    on raw ASGI, where each is a task on Python 3.11) outgrew a young generation of 10,000:
    promoted, then collected again and again (gc callbacks: 256 young, 24 middle and 2 full
    collections, 0.9 s of a 10 s run). Sized for the turn: +18% requests/s (4 interleaved
    rounds, 28.1k -> 33.3k); kept at 10,000 for few connections, where 50,000 measured 6%
    slower (more garbage scanned at each collection).
    """
    return max(PORCH_GC_THRESHOLD, OBJECTS_PER_REQUEST * min(connections, POLL_BATCH))
