"""One response, start to end: claim it, stream it with retries, relay it, store the outcome."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable

from canvas.models import NodeStatus
from engine import cancellation, events, store
from engine.adapters import adapter_pool
from engine.db import Coalesced, in_db_thread
from engine.loops import PerLoop
from engine.outcome import Outcome, estimated_usage
from engine.relay import Relay, forget_live, send_event
from engine.slots import SlotRequest, provider_slots
from providers.base import ProviderError, StreamEvent, Usage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_BACKOFF_S = 30.0


class _StreamOver(Exception):
    """The engine ended the stream itself (a timeout); the error is already recorded."""


class _RetryBeforeFirstToken(Exception):
    def __init__(self, error: ProviderError):
        self.error = error


async def run_responses(node_ids: list[str]) -> None:
    """A prompt's responses: claimed together, then each one runs and ends on its own, whatever becomes
    of the others. Those another run holds, or that are no longer queued, are left alone."""
    starts = await _claims.get()(node_ids)
    results = await asyncio.gather(*(run_claimed(plan, slot) for plan, slot in starts), return_exceptions=True)
    for (plan, _), result in zip(starts, results, strict=True):
        if isinstance(result, BaseException):
            log.error("Run of %s failed outside its own error handling", plan.node_id, exc_info=result)


async def run_response(node_id: str) -> None:
    """One response (the sweeper's re-run); unlike a gather, a cancelled run ends the node and returns."""
    for plan, slot in await _claims.get()([node_id]):
        await run_claimed(plan, slot)


def claim_asks(asks: list[list[str]]) -> list[list[tuple[store.RunPlan, bool]]]:
    """Each ask's share of one claim of all of their responses, whatever their canvas (a loop's claims
    are coalesced: a hundred prompts posted at once take a few claims instead of a hundred, each of which
    was a turn on a database thread, two queries and a Redis round trip, all in their time to first
    token). A response asked for twice (a task delivered again) goes to the first asker only."""
    ids = list(dict.fromkeys(node_id for node_ids in asks for node_id in node_ids))
    taken = {plan.node_id: (plan, granted) for plan, granted in claim_with_slots(ids)}
    return [[taken.pop(node_id) for node_id in node_ids if node_id in taken] for node_ids in asks]


def finish_runs(ends: list[tuple[store.RunPlan, Outcome]]) -> list[dict | None | Exception]:
    """Runs that ended together (their prompts were posted together) stored in one batch; if the batch
    fails, each run is stored on its own, so that only a run whose own save fails ends as a server error."""
    try:
        return store.finish_many(ends)
    except Exception:  # told apart below, run by run
        log.warning("Storing %s runs' endings together failed; storing each alone", len(ends), exc_info=True)
    results: list[dict | None | Exception] = []
    for end in ends:
        try:
            results.extend(store.finish_many([end]))
        except Exception as exc:  # noqa: BLE001 - that run's caller ends it as failed
            results.append(exc)
    return results


_claims: PerLoop[Coalesced] = PerLoop(lambda loop: Coalesced(claim_asks))
_finishes: PerLoop[Coalesced] = PerLoop(lambda loop: Coalesced(finish_runs))


def claim_with_slots(node_ids: list[str]) -> list[tuple[store.RunPlan, bool]]:
    """Claim these responses and ask for their provider slots, on the claiming thread: each plan, and
    whether its slot was granted. Asked for here, a prompt's slots are one round trip to Redis whose
    answer does not wait behind the relays on the event loop; each is held (and released) by its run."""
    plans = store.claim(node_ids)
    limited = [plan for plan in plans if plan.account.max_concurrency]
    asked = [SlotRequest(p.account.account_id, p.account.max_concurrency, p.node_id) for p in limited]
    granted = {plan.node_id for plan, ok in zip(limited, provider_slots().grant_now(asked), strict=True) if ok}
    return [(plan, plan.node_id in granted) for plan in plans]


async def run_claimed(plan: store.RunPlan, slot_granted: bool) -> None:
    run = StreamRun(plan, slot_granted)
    try:
        outcome = await run.run()
        payload = await _finishes.get()((plan, outcome))
        failed = outcome.is_error
    except Exception:
        # The last resort, for a fault of ours anywhere above (the database refusing the final save
        # among them): the node still ends, with the text it had streamed, and stops counting as a run.
        log.exception("Run of %s failed; it ends as a server error", plan.node_id)
        payload, failed = await _end_as_failed(run), True
    await forget_live(plan.node_id)
    if payload is None:
        return  # the sweeper took this run for dead and has ended the node already
    if failed:
        await send_event(plan.canvas_id, events.NodeError(type="node.error", node=payload), final=True)
    else:
        await send_event(plan.canvas_id, events.NodeDone(type="node.done", node=payload), final=True)


async def _end_as_failed(run: StreamRun) -> dict | None:
    relay = run.relay
    partial = store.Partial(relay.node_id, relay.text, relay.reasoning, relay.seq)
    try:
        return await in_db_thread(store.end_as_failed, run.plan, partial)
    except Exception:
        # The database is away: the node keeps its last saved text, and the sweeper ends it.
        log.exception("Run of %s could not be ended; the sweeper will end it", run.plan.node_id)
        return None


class StreamRun:
    def __init__(self, plan: store.RunPlan, slot_granted: bool):
        self.plan = plan
        self.slot_granted = slot_granted  # asked for when the run was claimed: `hold` only keeps it
        self.relay = Relay(plan.node_id, plan.canvas_id)
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.error: ProviderError | None = None
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self._last_event_at = self.started
        self.slot_wait_ms = 0
        self.waited_for_slot = False

    async def run(self) -> Outcome:
        """Stream the response to its end, whatever the provider does; the outcome to store."""
        # Goes out with the publisher's next tick, ahead of the first delta: the provider is called now.
        self.relay.send_soon(events.NodeUpdated(type="node.updated", node=self.plan.node))
        # The heartbeat outlives the registration: a cancel must not land while the heartbeat stops.
        async with self.relay.running():
            async with cancellation.registered(self.plan.node_id):
                try:
                    return await self.execute()
                except asyncio.CancelledError:
                    return await self.stop(NodeStatus.CANCELLED)
                except Exception:
                    # A fault of ours (or of Redis holding the provider slots) still ends the node.
                    log.exception("Run of %s failed", self.plan.node_id)
                    self.error = ProviderError("server", store.SERVER_FAILURE)
                    return await self.stop(NodeStatus.ERROR)

    async def execute(self) -> Outcome:
        account = self.plan.account
        if not account.max_concurrency:
            return await self._attempts()
        waited_from = time.monotonic()
        slots = provider_slots()
        held = slots.hold(
            account.account_id, account.max_concurrency, self.plan.node_id, self.slot_granted, self._wait_for_slot
        )
        async with held:
            if self.waited_for_slot:
                self._announce_slot_wait(None)
            # Waiting for a slot is queueing, not the provider's latency.
            self.slot_wait_ms = int((time.monotonic() - waited_from) * 1000)
            self.started = self._last_event_at = time.monotonic()
            return await self._attempts()

    def _wait_for_slot(self) -> None:
        self.waited_for_slot = True
        self._announce_slot_wait(self.plan.account.name)

    def _announce_slot_wait(self, provider: str | None) -> None:
        """The node waits for a slot at this provider (None: it has one now); the canvas shows it."""
        node = {**self.plan.node, "waiting_for_slot": provider}
        self.relay.send_soon(events.NodeUpdated(type="node.updated", node=node))

    async def _attempts(self) -> Outcome:
        async with adapter_pool().adapter(self.plan.account) as adapter:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    await self._consume(adapter.stream(self.plan.request))
                    break
                except _StreamOver:
                    break
                except _RetryBeforeFirstToken as retry:
                    if attempt == MAX_ATTEMPTS - 1:
                        self.error = retry.error
                        break
                    await asyncio.sleep(backoff_s(retry.error, attempt))
        return await self.stop(NodeStatus.ERROR if self.error else NodeStatus.DONE)

    async def stop(self, status: str) -> Outcome:
        # Every delta is in the live state and sent before the closing event can be.
        await self.relay.drain()
        text, reasoning = self.relay.text, self.relay.reasoning
        usage = self.usage or estimated_usage(self.plan.request.messages, text, reasoning)
        ended = time.monotonic()
        return Outcome(
            status=status,
            text=text,
            reasoning=reasoning,
            seq=self.relay.seq,
            usage=usage,
            finish_reason=self.finish_reason,
            error=self.error,
            ttft_ms=None if self.first_token_at is None else int((self.first_token_at - self.started) * 1000),
            duration_ms=int((ended - self.started) * 1000),
            slot_wait_ms=self.slot_wait_ms,
        )

    async def _consume(self, stream: AsyncIterator[StreamEvent]) -> None:
        iterator = aiter(stream)
        timer = SilenceTimer(self._deadline)
        try:
            async for event in iterator:
                self._last_event_at = time.monotonic()
                if self._handle(event):
                    return
        except asyncio.CancelledError:
            if timer.fired and asyncio.current_task().uncancel() == 0:
                what = "first token" if self.first_token_at is None else "next token"
                self.error = ProviderError("timeout", f"The provider sent no {what} in time.")
                raise _StreamOver from None
            raise
        finally:
            timer.stop()
            await iterator.aclose()

    def _deadline(self) -> float:
        account = self.plan.account
        if self.first_token_at is None:
            return self.started + account.first_token_timeout_s
        return self._last_event_at + account.idle_timeout_s

    def _handle(self, event: StreamEvent) -> bool:
        """Apply one event; True when the stream is over."""
        if event.kind in ("text", "reasoning"):
            if self.first_token_at is None:
                self.first_token_at = self._last_event_at
            self.relay.add(event.kind, event.text)
            if self.relay.full:  # the most an answer may hold: stop the provider here, as a length limit would
                self.finish_reason = "length"
                return True
        elif event.kind == "usage":
            self.usage = event.usage
        elif event.kind == "finish":
            self.finish_reason = event.finish_reason
        elif event.kind == "error":
            error = event.error
            # Before the first token nothing has been shown, so a connection cut then is asked again too:
            # most often it is a pooled connection the provider closed as the request went out.
            if self.first_token_at is None and (error.retryable or error.code == "stream_cut"):
                raise _RetryBeforeFirstToken(error)
            self.error = error
            return True
        return False


class SilenceTimer:
    """Cancels the running task once `deadline()` (a time.monotonic() value that moves on with every
    event) has passed. The timer is re-armed only when it wakes before the deadline, so the hundreds of
    events a second of a busy loop cost no timer each, as asyncio.wait or asyncio.timeout would."""

    def __init__(self, deadline: Callable[[], float]):
        self._deadline = deadline
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self.fired = False
        self._handle = self._arm()

    def _arm(self) -> asyncio.TimerHandle:
        return self._loop.call_later(max(0.0, self._deadline() - time.monotonic()), self._wake)

    def _wake(self) -> None:
        if time.monotonic() >= self._deadline():
            self.fired = True
            self._task.cancel()
        else:
            self._handle = self._arm()

    def stop(self) -> None:
        self._handle.cancel()


def backoff_s(error: ProviderError, attempt: int) -> float:
    if error.retry_after is not None:
        return min(error.retry_after, MAX_BACKOFF_S)
    return min(0.5 * 2**attempt + random.uniform(0, 0.25), MAX_BACKOFF_S)
