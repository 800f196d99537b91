"""The pure core: no I/O, no asyncio. Orders, positions, risk checks, ids and rules."""
