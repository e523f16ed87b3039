"""The server-sent events decoder the OpenAI-compatible adapter reads its streams with."""

from __future__ import annotations

import pytest

from providers.sse import ServerSentEvent, SSEDecoder

WIRE = (
    b": keep-alive\r\n\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"event: error\ndata: first line\ndata:second line\n\n"
    b"data: tail\r\n"
    b"\r\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent('{"a": 1}'),
    ServerSentEvent("first line\nsecond line", event="error"),
    ServerSentEvent("tail"),
    ServerSentEvent("[DONE]"),
]


def decode(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_whole_stream_in_one_chunk():
    assert decode([WIRE]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16])
def test_any_chunk_boundary_gives_the_same_events(size):
    # Splits land inside "\r\n", inside field names and inside multi-byte characters alike.
    assert decode([WIRE[i : i + size] for i in range(0, len(WIRE), size)]) == EXPECTED


def test_utf8_split_across_chunks():
    wire = "data: naïve café ✓\n\n".encode()
    assert decode([wire[:9], wire[9:14], wire[14:]]) == [ServerSentEvent("naïve café ✓")]


def test_an_unfinished_event_is_not_dispatched():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: half") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("half")]


def test_event_name_does_not_leak_into_the_next_event():
    assert decode([b"event: ping\ndata: 1\n\ndata: 2\n\n"]) == [ServerSentEvent("1", "ping"), ServerSentEvent("2")]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        # A whole one-line event per chunk, as chat completions streams send them.
        ([b"data: 1\n\n", b"data: 2\n\n"], [ServerSentEvent("1"), ServerSentEvent("2")]),
        # A whole event's chunk after an event name, after an unfinished line, after earlier data lines.
        ([b"event: error\n", b"data: 1\n\n"], [ServerSentEvent("1", "error")]),
        ([b"data: 1", b"data: 2\n\n"], [ServerSentEvent("1data: 2")]),
        ([b"data: 1\n", b"data: 2\n\n"], [ServerSentEvent("1\n2")]),
        ([b"data: 1\r\n\r\n", b"data: 2\r\n\n"], [ServerSentEvent("1"), ServerSentEvent("2")]),
        ([b"data: 1\n\ndata: 2\n\n"], [ServerSentEvent("1"), ServerSentEvent("2")]),
        ([b"data: 1\ndata: 2\n\n"], [ServerSentEvent("1\n2")]),
    ],
)
def test_whole_events_in_a_chunk_read_like_any_other(chunks, expected):
    assert decode(chunks) == expected
