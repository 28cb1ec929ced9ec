"""A sink that keeps what the span processor submits, for tests that read it back in-process."""

from __future__ import annotations


class ListSink:
    """The writer's interface (submit/flush/shutdown) without a store: ``items`` in order."""

    def __init__(self):
        self.items = []

    def submit(self, item):
        self.items.append(item)

    def flush(self, timeout):
        return True

    def shutdown(self):
        pass
