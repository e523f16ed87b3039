"""The one cleaner for text from outside: model output and the API's text fields."""

from __future__ import annotations

from providers.text import clean_text


def test_it_keeps_ordinary_text_as_it_is():
    text = "Line one\nline two\r\n\tindented — ünïcödé 😀"
    assert clean_text(text) is text


def test_it_strips_nul_and_control_characters():
    assert clean_text("a\x00b\x01c\x08d\x0be\x0cf\x1bg\x1fh") == "abcdefgh"


def test_it_keeps_newlines_carriage_returns_and_tabs():
    assert clean_text("a\x00\nb\r\tc") == "a\nb\r\tc"


def test_it_replaces_lone_surrogates():
    assert clean_text("x\ud800y") == "x\ufffdy"
    assert clean_text("\udfff") == "\ufffd"
    assert clean_text("end\ud83d") == "end\ufffd"


def test_it_joins_a_well_formed_surrogate_pair():
    assert clean_text("\ud83d\ude00") == "😀"


def test_the_result_can_be_encoded_and_stored():
    cleaned = clean_text("\x00\ud800\udc00\udc00\ud800 ok \x7f")
    cleaned.encode("utf-8")
    assert "\x00" not in cleaned
