"""What the adapters share (`porch/server/adapters.py`): stepping a handler without a Task."""

import asyncio
import contextvars

import pytest

from porch.server.adapters import step_coroutine

VALUE: contextvars.ContextVar[str] = contextvars.ContextVar("VALUE", default="unset")


def test_a_coroutine_that_finishes_at_once_needs_no_task() -> None:
    done: list[str] = []

    async def handler() -> None:
        done.append("done")

    async def main() -> None:
        assert step_coroutine(asyncio.get_running_loop(), handler()) is None

    asyncio.run(main())
    assert done == ["done"]


@pytest.mark.parametrize(
    "suspend",
    [
        lambda: asyncio.sleep(0),
        lambda: asyncio.sleep(0.01),
        lambda: asyncio.get_running_loop().run_in_executor(None, lambda: None),
        lambda: asyncio.wait_for(asyncio.sleep(0.01), 1),
    ],
    ids=["sleep-0", "sleep", "executor-future", "wait_for"],
)
def test_a_coroutine_that_suspends_goes_on_in_a_task(suspend: object) -> None:
    steps: list[str] = []

    async def handler() -> None:
        steps.append("first")
        await suspend()  # type: ignore[operator]
        steps.append("second")
        await suspend()  # type: ignore[operator]
        steps.append("third")

    async def main() -> None:
        task = step_coroutine(asyncio.get_running_loop(), handler())
        assert steps == ["first"]
        assert task is not None
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert steps == ["first", "second", "third"]


def test_results_and_exceptions_reach_the_coroutine() -> None:
    seen: list[object] = []

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("inner")

    async def handler() -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_later(0.01, future.set_result, 42)
        seen.append(await future)
        try:
            await loop.create_task(fails())
        except ValueError as exc:
            seen.append(str(exc))

    async def main() -> None:
        task = step_coroutine(asyncio.get_running_loop(), handler())
        assert task is not None
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert seen == [42, "inner"]


def test_cancelling_the_task_cancels_the_coroutine() -> None:
    seen: list[str] = []

    async def handler() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        task = step_coroutine(asyncio.get_running_loop(), handler())
        assert task is not None
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled"]


def test_context_variables_carry_across_the_first_suspension() -> None:
    seen: list[str] = []

    async def handler() -> None:
        VALUE.set("set in the first step")
        await asyncio.sleep(0.001)
        seen.append(VALUE.get())

    async def main() -> None:
        task = step_coroutine(asyncio.get_running_loop(), handler())
        assert task is not None
        await task
        assert VALUE.get() == "unset"  # the handler's context is its own

    asyncio.run(main())
    assert seen == ["set in the first step"]
