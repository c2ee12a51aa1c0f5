"""Till requests waiting at the same moment share a transaction (familienkarte.redemptions.batching): redemptions,
whose limits, quotas, nonces, refusals and failures each stay what they are without batching, and the rows of
scanned cards the process does not remember."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from familienkarte.audit.models import AuditEntry
from familienkarte.cards.models import Card
from familienkarte.credentials.card_numbers import new_card_number
from familienkarte.db import Tx, make_async_engine
from familienkarte.errors import DomainError, Unavailable
from familienkarte.redemptions import services
from familienkarte.redemptions.batching import CardRowLoader, RedemptionBatcher
from familienkarte.redemptions.memory import CardNotRemembered, PointOfSaleMemory
from familienkarte.redemptions.models import Redemption
from familienkarte.redemptions.services import LimitReached, RedemptionResult
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import now
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import Till, make_till, signed, status_entry

T = TypeVar("T")


class CountingTx(Tx):
    """A Tx that counts its transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(async_sessionmaker(engine, expire_on_commit=False))
        self.engine = engine
        self.transactions = 0

    def loop(self, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``main()`` in an event loop of its own, which closes the connections it opened when it ends."""

        async def run() -> T:
            try:
                return await main()
            finally:
                await self.engine.dispose()

        return asyncio.run(run())

    async def run(self, fn: Callable[[Session], T]) -> T:
        self.transactions += 1
        return await super().run(fn)


class DownTx(CountingTx):
    """A database out of reach: every transaction fails as Tx.run fails then."""

    async def run(self, fn: Callable[[Session], T]) -> T:
        self.transactions += 1
        raise Unavailable()


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


@pytest.fixture
def tx(migrated_db: str) -> CountingTx:
    return CountingTx(make_async_engine(migrated_db))


def redeem_call(till: Till, text: str, benefit_id: uuid.UUID, nonce: str | None = None) -> Callable[[Session], Any]:
    nonce = nonce or uuid.uuid4().hex
    at = now()

    def call(session: Session) -> RedemptionResult:
        return services.redeem(
            session,
            till.principal,
            KOELN,
            text=text,
            benefit_id=benefit_id,
            location_id=till.location_id,
            client_nonce=nonce,
            now=at,
        )

    return call


def together(tx: CountingTx, batcher: RedemptionBatcher, calls: list[Callable[[Session], Any]]) -> list[Any]:
    """Every call at once, as requests of one web process; each outcome: a result, or the exception it raised."""

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.run(call) for call in calls), return_exceptions=True)

    return tx.loop(main)


def codes(outcomes: list[Any]) -> Counter[str]:
    return Counter(
        "ok" if isinstance(o, RedemptionResult) else o.code if isinstance(o, DomainError) else type(o).__name__
        for o in outcomes
    )


def rows(db: Callable[[], Session], benefit_id: uuid.UUID) -> int:
    with db() as s:
        return s.scalar(select(func.count()).select_from(Redemption).where(Redemption.benefit_id == benefit_id)) or 0


def test_a_once_a_month_benefit_is_redeemed_once_by_requests_waiting_together(
    db: Callable[[], Session], till: Till, tx: CountingTx
) -> None:
    benefit_id = benefit(db, till, limit_count=1, limit_period="month")
    text = signed(db, till.number)
    calls = [redeem_call(till, text, benefit_id) for _ in range(100)]  # each with its own nonce
    outcomes = together(tx, RedemptionBatcher(tx, max_batch=16), calls)
    assert codes(outcomes) == Counter({"ok": 1, "limit_reached": 99})
    assert rows(db, benefit_id) == 1
    assert tx.transactions < 100 / 4  # they did wait together: batches of up to 16


def test_a_quota_holds_across_batches(db: Callable[[], Session], till: Till, tx: CountingTx) -> None:
    benefit_id = benefit(db, till, total_quota=25)
    entry = status_entry(db)
    calls = [redeem_call(till, signed(db, new_card_number(), status=entry), benefit_id) for _ in range(90)]
    outcomes = together(tx, RedemptionBatcher(tx, max_batch=8), calls)
    assert codes(outcomes) == Counter({"ok": 25, "quota_exhausted": 65})
    assert rows(db, benefit_id) == 25
    with db() as s:  # each recorded redemption has its audit entry, flushed with its batch
        audited = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "redemption.record"))
    assert audited == 25


def test_the_same_nonce_twice_in_one_batch_records_once(db: Callable[[], Session], till: Till, tx: CountingTx) -> None:
    benefit_id = benefit(db, till)
    text = signed(db, till.number)
    first, second = together(tx, RedemptionBatcher(tx), [redeem_call(till, text, benefit_id, nonce="same")] * 2)
    assert tx.transactions == 1
    assert isinstance(first, RedemptionResult)
    assert isinstance(second, RedemptionResult)
    assert (first.replayed, second.replayed) == (False, True)
    assert second.id == first.id
    assert rows(db, benefit_id) == 1


def test_a_refusal_is_its_own_requests_answer_alone(db: Callable[[], Session], till: Till, tx: CountingTx) -> None:
    benefit_id = benefit(db, till)
    good = signed(db, till.number)
    outcomes = together(
        tx,
        RedemptionBatcher(tx),
        [redeem_call(till, text, benefit_id) for _ in range(3) for text in (good, "not a code")],
    )
    assert tx.transactions == 1
    assert codes(outcomes) == Counter({"ok": 3, "malformed": 3})
    assert rows(db, benefit_id) == 3


def test_a_failure_rolls_the_batch_back_and_the_others_are_written_alone(
    db: Callable[[], Session], till: Till, tx: CountingTx
) -> None:
    benefit_id = benefit(db, till)
    text = signed(db, till.number)

    def broken(session: Session) -> Any:
        redeem_call(till, text, benefit_id)(session)  # it wrote; then the database refuses
        raise IntegrityError("INSERT", {}, Exception("refused"))

    calls = [redeem_call(till, text, benefit_id), broken, redeem_call(till, text, benefit_id)]
    outcomes = together(tx, RedemptionBatcher(tx), calls)
    assert [type(o).__name__ for o in outcomes] == ["RedemptionResult", "IntegrityError", "RedemptionResult"]
    assert rows(db, benefit_id) == 2  # nothing of the broken one
    assert tx.transactions == 1 + 3  # the batch, rolled back; then each alone


def test_a_refusal_after_writing_gives_the_batch_up(db: Callable[[], Session], till: Till, tx: CountingTx) -> None:
    benefit_id = benefit(db, till)
    text = signed(db, till.number)

    def refused_late(session: Session) -> Any:
        redeem_call(till, text, benefit_id)(session)
        raise LimitReached()

    outcomes = together(tx, RedemptionBatcher(tx), [redeem_call(till, text, benefit_id), refused_late])
    assert isinstance(outcomes[0], RedemptionResult)
    assert isinstance(outcomes[1], LimitReached)
    assert rows(db, benefit_id) == 1  # the refused one left no half redemption
    assert tx.transactions == 1 + 2


def test_a_request_given_up_meanwhile_does_not_disturb_its_batch(
    db: Callable[[], Session], till: Till, tx: CountingTx
) -> None:
    benefit_id = benefit(db, till)
    text = signed(db, till.number)
    batcher = RedemptionBatcher(tx)

    async def main() -> list[Any]:
        tasks = [asyncio.create_task(batcher.run(redeem_call(till, text, benefit_id))) for _ in range(3)]
        await asyncio.sleep(0)  # all three are waiting
        tasks[1].cancel()  # the till disconnected
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = tx.loop(main)
    assert isinstance(outcomes[0], RedemptionResult)
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert isinstance(outcomes[2], RedemptionResult)
    # Written with its batch all the same, as a request that timed out after its commit would be: the till's
    # retry with the same nonce answers with it.
    assert rows(db, benefit_id) == 3


def test_each_call_runs_in_its_own_requests_context(till: Till, tx: CountingTx) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    batcher = RedemptionBatcher(tx)

    def seen(_session: Session) -> str:
        return request_id.get()

    async def request(name: str) -> str:
        request_id.set(name)
        return await batcher.run(seen)

    async def main() -> list[str]:
        return await asyncio.gather(*(request(f"request-{i}") for i in range(5)))

    assert tx.loop(main) == [f"request-{i}" for i in range(5)]
    assert tx.transactions == 1


def test_a_lone_redemption_is_written_at_once(db: Callable[[], Session], till: Till, tx: CountingTx) -> None:
    benefit_id = benefit(db, till)
    batcher = RedemptionBatcher(tx)
    text = signed(db, till.number)

    async def main() -> None:
        for _ in range(3):  # one after the other: each a batch of one
            await asyncio.wait_for(batcher.run(redeem_call(till, text, benefit_id)), timeout=30)

    tx.loop(main)
    assert tx.transactions == 3
    assert rows(db, benefit_id) == 3


def test_a_database_out_of_reach_fails_the_whole_batch_at_once(
    db: Callable[[], Session], till: Till, tx: CountingTx
) -> None:
    benefit_id = benefit(db, till)
    text = signed(db, till.number)

    down = DownTx(tx.engine)
    outcomes = together(down, RedemptionBatcher(down), [redeem_call(till, text, benefit_id) for _ in range(5)])
    assert [type(o) for o in outcomes] == [Unavailable] * 5
    assert down.transactions == 1  # no connection attempt per request: each would wait for its timeout


def test_card_rows_of_scans_waiting_together_are_read_in_one_statement(
    db: Callable[[], Session], till: Till, tx: CountingTx
) -> None:
    memory = PointOfSaleMemory()
    loader = CardRowLoader(tx, memory)
    unknown = new_card_number()
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM cards" in statement:
            statements.append(statement)

    async def main() -> list[bool]:
        return await asyncio.gather(*(loader.load(n) for n in [till.number, unknown, till.number]))

    event.listen(tx.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert tx.loop(main) == [True, True, True]
    finally:
        event.remove(tx.engine.sync_engine, "before_cursor_execute", count)
    assert tx.transactions == 1
    assert len(statements) == 1
    # Remembered now: asked without a session, the memory answers, the unknown number as no card.
    row = memory.card(None, till.number)
    assert row is not None
    with db() as s:
        assert row.id == s.scalar(select(Card.id).where(Card.number == till.number))
    assert memory.card(None, unknown) is None
    with pytest.raises(CardNotRemembered):
        memory.card(None, new_card_number())


def test_a_card_row_loader_that_cannot_read_lets_each_scan_read_on_its_own(till: Till, tx: CountingTx) -> None:
    down = DownTx(tx.engine)
    memory = PointOfSaleMemory()
    loader = CardRowLoader(down, memory)

    async def main() -> list[bool]:
        return await asyncio.gather(*(loader.load(till.number) for _ in range(4)))

    assert down.loop(main) == [False] * 4
    assert down.transactions == 1
    with pytest.raises(CardNotRemembered):
        memory.card(None, till.number)
