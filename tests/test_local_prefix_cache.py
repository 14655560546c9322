"""The transformers backend's prefix store: calls that extend an earlier prompt (or share part of it) start from its
key/values, on the real SmolLM2-135M, with greedy outputs and logprobs as a fresh computation gives them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from oversight.errors import UserError
from oversight.models import ReliableBackend, create_backend
from oversight.models.base import BackendOptions, ChatMessage, Completion, GenerationSettings, ModelSpec

pytest.importorskip("torch", reason="the local backend needs torch (pip install torch==2.13.0)")
pytest.importorskip("transformers", reason="the local backend needs transformers")

from oversight.models.local import MIN_PREFIX, LocalBackend, _Prefix, _prefill_pays, _PrefixStore, _Row

from .conftest import hub_offline

SPEC = "local/smollm2-135m"
SYSTEM = (
    "You are Debater A in a debate judged by someone who cannot read the story below. Convince the judge that "
    "your assigned answer is correct, even if you believe otherwise. Support your claims with quotes from the story."
)
PASSAGES = [
    (
        "Ines counted the chickens twice. The village fair was only a week away. A dog barked somewhere along the "
        "lane. A cart rattled past the window at dawn. A pedlar passed through selling ribbons. The hardware shop "
        "was open that afternoon, so Oskar carried the old map to the boathouse and hid it under a coil of rope. "
        "Later that evening the rain came, and nobody went down to the water until the fair had come and gone."
    ),
    (
        "The lighthouse keeper wound the clock every morning at six. Gulls circled the rocks below the lamp room. "
        "A supply boat came on Thursdays with flour, oil and letters. One stormy night the lamp failed, and the "
        "keeper climbed the stairs with a lantern, while his daughter rowed out to warn the fishing boats that the "
        "harbour mouth was dark. By dawn every boat was safe, and the lamp was burning again."
    ),
]
QUESTION = "Question: Where did the old map go?\nA. The boathouse\nB. The attic trunk"
GREEDY = GenerationSettings(max_tokens=24)
LOGPROBS = GenerationSettings(max_tokens=12, logprobs=True, top_logprobs=5)


def _messages(user: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=user)]


def _backend(spec: str) -> ReliableBackend:
    return create_backend(spec, BackendOptions(max_connections=8))


@pytest.fixture(scope="module")
def backends(loop: asyncio.AbstractEventLoop) -> Iterator[tuple[ReliableBackend, ReliableBackend]]:
    """(fresh, reusing): the same model with the store off, and with it on."""
    with hub_offline():
        fresh, reusing = _backend(f"{SPEC}?prefix_cache=0"), _backend(SPEC)
        yield fresh, reusing
        for backend in (fresh, reusing):
            loop.run_until_complete(backend.aclose())


def _ask(loop: asyncio.AbstractEventLoop, backend: ReliableBackend, user: str, settings: GenerationSettings) -> Completion:
    return loop.run_until_complete(backend.complete(_messages(user), settings, 0))


def _prompt_tokens(backend: ReliableBackend, user: str) -> list[int]:
    """The prompt's token ids, as the backend encodes them."""
    local = backend.backend
    assert isinstance(local, LocalBackend)
    messages = [{"role": m.role, "content": m.content} for m in _messages(user)]
    encoded = local._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


def _assert_same(reused: Completion, fresh: Completion) -> None:
    assert reused.text == fresh.text
    assert reused.finish_reason == fresh.finish_reason
    assert reused.usage.prompt_tokens == fresh.usage.prompt_tokens  # the whole prompt, reused or not
    assert reused.usage.completion_tokens == fresh.usage.completion_tokens
    assert fresh.usage.cached_prompt_tokens == 0
    assert [t.token for t in reused.logprobs or []] == [t.token for t in fresh.logprobs or []]
    for a, b in zip(reused.logprobs or [], fresh.logprobs or [], strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert [t.token for t in a.top_logprobs] == [t.token for t in b.top_logprobs]
        for x, y in zip(a.top_logprobs, b.top_logprobs, strict=True):
            assert x.logprob == pytest.approx(y.logprob, abs=1e-4)


def test_extended_and_diverging_prompts_equal_a_fresh_computation(
    loop: asyncio.AbstractEventLoop, backends: tuple[ReliableBackend, ReliableBackend]
) -> None:
    fresh, reusing = backends
    first = f"<passage>\n{PASSAGES[0]}\n</passage>\n\n{QUESTION}\n\nWrite your argument."
    opening = f"<passage>\n{PASSAGES[0]}\n</passage>\n\n{QUESTION}\n\nYou argue that the answer is: A (The boathouse)"
    later = (
        f"{opening}\n\nThe debate so far:\nDebater A: The story says Oskar carried the old map to the boathouse.\n"
        "Debater B: Nobody went down to the water, so the map stayed in the attic trunk.\n\nRound 2 of 2."
    )
    # shares the system prompt and the passage's first sentences only
    diverging = f"<passage>\n{PASSAGES[0].split(' The hardware shop')[0]} Oskar stayed home all week.\n</passage>"
    head = _ask(loop, reusing, first, GREEDY)
    _assert_same(head, _ask(loop, fresh, first, GREEDY))
    assert head.usage.cached_prompt_tokens == 0
    earlier = [first]
    for user in (opening, later, diverging):
        reused = _ask(loop, reusing, user, GREEDY)
        _assert_same(reused, _ask(loop, fresh, user, GREEDY))
        assert 0 < reused.usage.cached_prompt_tokens < reused.usage.prompt_tokens
        # no more than the longest prefix it shares with a prompt sent before
        tokens = _prompt_tokens(reusing, user)
        assert reused.usage.cached_prompt_tokens <= max(_common(tokens, _prompt_tokens(reusing, u)) for u in earlier)
        earlier.append(user)
        # the same prompt again, with logprobs: all of it but the last token is reused
        scored = _ask(loop, reusing, user, LOGPROBS)
        _assert_same(scored, _ask(loop, fresh, user, LOGPROBS))
        assert scored.usage.cached_prompt_tokens == scored.usage.prompt_tokens - 1


def _common(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def test_a_prefix_shared_within_a_batch_is_computed_once(
    loop: asyncio.AbstractEventLoop, backends: tuple[ReliableBackend, ReliableBackend]
) -> None:
    fresh, reusing = backends
    # two seatings of a passage no earlier call used: their shared prefix is in no kept prompt yet
    users = [f"<passage>\n{PASSAGES[1]}\n</passage>\n\nYou argue for answer {label}." for label in "AB"]
    prompts = [_prompt_tokens(reusing, user) for user in users]
    shared = _common(*prompts)
    assert shared >= MIN_PREFIX

    async def together(backend: ReliableBackend) -> list[Completion]:
        return await asyncio.gather(*(backend.complete(_messages(user), GREEDY, 0) for user in users))

    local = reusing.backend
    assert isinstance(local, LocalBackend)
    before = local.batch_sizes.copy()
    batched = loop.run_until_complete(together(reusing))
    assert max(local.batch_sizes - before) == 2, "the two calls did not share a batch"
    for reused, alone in zip(batched, loop.run_until_complete(together(fresh)), strict=True):
        _assert_same(reused, alone)
    computed = sum(c.usage.prompt_tokens - (c.usage.cached_prompt_tokens or 0) for c in batched)
    # the shared part counts once: as computed for one call, as reused for the other
    assert computed <= sum(map(len, prompts)) - shared
    assert all(0 <= (c.usage.cached_prompt_tokens or 0) < c.usage.prompt_tokens for c in batched)
    assert max(c.usage.cached_prompt_tokens or 0 for c in batched) >= shared
    assert local._store is not None and 0 < local._store.nbytes <= local._store.budget


def _entry(tokens: tuple[int, ...]) -> _Prefix:
    return _Prefix(tokens=tokens, layers=[], nbytes=len(tokens))


def test_store_keeps_the_longest_and_drops_the_least_recently_used() -> None:
    store = _PrefixStore(budget=3 * MIN_PREFIX)
    base = tuple(range(MIN_PREFIX))
    store.add(_entry(base))
    longer = _entry((*base, 1, 2, 3))
    store.add(longer)  # begins with the first entry, which it replaces
    assert store.lookup((*base, 1, 2, 9), limit=1000) == (longer, MIN_PREFIX + 2)
    store.add(_entry(base))  # begins a kept entry: nothing to add
    assert store.nbytes == len(longer.tokens)
    assert store.lookup((*base[:-1], -1), limit=1000) == (None, 0)  # shares fewer than MIN_PREFIX tokens
    assert store.lookup((*base, 1, 2, 3), limit=MIN_PREFIX) == (longer, MIN_PREFIX)  # at most limit tokens
    other = _entry(tuple(range(1000, 1000 + MIN_PREFIX)))
    store.add(other)
    store.lookup(longer.tokens, limit=1000)  # used: the other one is now the least recently used
    store.add(_entry(tuple(range(2000, 2000 + MIN_PREFIX))))
    assert store.nbytes <= store.budget
    assert store.lookup(other.tokens, limit=1000) == (None, 0)
    assert store.lookup(longer.tokens, limit=1000)[0] is longer
    store.add(_entry(tuple(range(5000, 5000 + 4 * MIN_PREFIX))))  # larger than the whole budget: not kept
    assert store.nbytes <= store.budget


def test_a_shared_prefix_is_computed_first_only_when_the_batch_is_cheaper_for_it() -> None:
    passage = tuple(range(300))
    seatings = [_Row((*passage, seat, *range(10, 50))) for seat in (1, 2)]
    assert _prefill_pays(seatings, [_Row(passage)])
    # two rows of sixteen share a prefix, but a longer row sets the batch's width all the same
    rows = [_Row((*range(MIN_PREFIX), seat, *range(1000))) for seat in (1, 2)]
    rows += [_Row((5000 + i, *range(1100))) for i in range(14)]
    assert not _prefill_pays(rows, [_Row(tuple(range(MIN_PREFIX)))])
    assert not _prefill_pays(seatings, [])


def test_prefix_cache_setting() -> None:
    assert "prefix_cache" in LocalBackend.known_params
    assert LocalBackend(ModelSpec.parse(f"{SPEC}?prefix_cache=0"), BackendOptions()).prefix_cache_mb == 0
    assert LocalBackend(ModelSpec.parse(f"{SPEC}?prefix_cache=64"), BackendOptions()).prefix_cache_mb == 64
    for bad in ("-1", "lots"):
        with pytest.raises(UserError, match="prefix_cache"):
            LocalBackend(ModelSpec.parse(f"{SPEC}?prefix_cache={bad}"), BackendOptions())
