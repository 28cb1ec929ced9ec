"""Work in progress in this session (filled before it lands)."""

from __future__ import annotations

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


class DjangoCacheInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ("django >= 4.2",)

    def _instrument(self, **kwargs):
        pass

    def _uninstrument(self, **kwargs):
        pass
