"""Server-sent events read from a byte stream, as the WHATWG standard defines them.

The adapters that read a stream themselves use this instead of an SDK's decoder: it splits each chunk
once with bytes.splitlines rather than walking it line by line in Python, which matters at hundreds of
chunks a second.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._partial = b""  # a line not yet ended
        self._data: list[bytes] = []
        self._event: bytes | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that `chunk` completes (a blank line ends an event)."""
        if (
            chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
            and not self._partial
            and not self._data
            and self._event is None
        ):
            # What a chat completions stream sends nearly every time: one whole one-line `data` event.
            return [ServerSentEvent(chunk[6:-2].decode())]
        lines = (self._partial + chunk).splitlines(keepends=True)
        # An unfinished last line waits for the next chunk; so does one ending in \r, which may be the
        # first half of \r\n.
        self._partial = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        events = []
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if self._data:
                    events.append(self._dispatch())
                self._event = None
                continue
            if line[:1] == b":":
                continue  # a comment, e.g. a keep-alive
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value
        return events

    def _dispatch(self) -> ServerSentEvent:
        event = ServerSentEvent(b"\n".join(self._data).decode(), None if self._event is None else self._event.decode())
        self._data = []
        return event
