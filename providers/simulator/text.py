"""Deterministic filler prose for simulated answers.

Each list element is one "token" as the simulator streams it: a word with its trailing
punctuation and whitespace, so joining the list gives readable text.
"""

from __future__ import annotations

import hashlib
import random

_WORD_TEXT = """
    the a model stream token answer question context window prompt system latency throughput
    provider request response cache prefix reasoning signal pattern result value measure
    balance choice detail example method process structure language sentence paragraph idea
    theory practice budget cost price limit queue buffer server client network packet engine
    pipeline layer vector matrix gradient weight sample batch epoch metric benchmark baseline
    estimate error margin quickly slowly carefully clearly often rarely usually simply roughly
    nearly always never still again together apart first second final is are was becomes
    remains seems shows suggests implies keeps moves holds finds builds reads writes counts
    compares improves reduces returns follows explains measures tracks and but so yet because
    while although when where which that with without across between through under over before
    after within beyond of to in on for by from as at small large steady rapid careful simple
    complex useful honest precise stable fragile early late common rare clear quiet bright
    modest ample narrow broad deep shallow warm
"""
_WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())

_COMMA_P = 0.08
_BOLD_P = 0.04
_SENTENCE_WORDS = (6, 15)
_PARAGRAPH_SENTENCES = (2, 4)


def _rng(seed: str) -> random.Random:
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _sentence(rng: random.Random, last_in_paragraph: bool) -> list[str]:
    size = rng.randint(*_SENTENCE_WORDS)
    tokens: list[str] = []
    for position in range(size):
        word = rng.choice(_WORDS)
        if position == 0:
            word = word.capitalize()
        elif rng.random() < _BOLD_P:
            word = f"**{word}**"
        if position == size - 1:
            tokens.append(word + (".\n\n" if last_in_paragraph else ". "))
        elif position > 0 and rng.random() < _COMMA_P:
            tokens.append(word + ", ")
        else:
            tokens.append(word + " ")
    return tokens


def tokens_for(seed: str, count: int) -> list[str]:
    """Return ``count`` tokens of prose; the same seed and count always give the same list.

    The text ends with a full stop so a complete answer reads as finished; callers that
    simulate truncation slice a longer list instead of asking for fewer tokens.
    """
    if count <= 0:
        return []
    rng = _rng(seed)
    tokens: list[str] = []
    while len(tokens) < count:
        sentences = rng.randint(*_PARAGRAPH_SENTENCES)
        for index in range(sentences):
            tokens.extend(_sentence(rng, last_in_paragraph=index == sentences - 1))
    tokens = tokens[:count]
    tokens[-1] = tokens[-1].rstrip().rstrip(",.") + "."
    return tokens


def count_tokens(text: str) -> int:
    """Whitespace word count, standing in for a tokenizer (at least 1 for non-empty text)."""
    if not text:
        return 0
    return max(1, len(text.split()))
