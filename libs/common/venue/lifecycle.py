"""`AsyncLifecycle`: `async with thing:` starts it and closes it, whatever happens inside."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class AsyncLifecycle(ABC):
    """Something with `start` and `close`, usable as `async with thing as started:`."""

    @abstractmethod
    async def start(self) -> None:
        """Acquire what the object needs (connections, tasks)."""

    @abstractmethod
    async def close(self) -> None:
        """Release what `start` acquired."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
