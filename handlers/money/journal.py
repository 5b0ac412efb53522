"""The episode's spend journal, `images/.spend-journal`: a line appended before every
paid call is sent (what was held for it) and one when it comes back (what it cost, or
that it was released unpaid).

The manifest's `cumulative_cost_usd` is written after whole chapters, so a run killed
between a paid call and its chapter's manifest entry left a count that was either
short (spend since the last manifest) or, once the images and traces it left were
recovered and counted again, too high. The journal is written around every call: the
next run reads the exact sum. A settled call counts at its cost; a call in flight at
the kill counts at what was held for it (it may have been billed); nothing counts
twice. Amounts are whole nano-dollars, so the sum does not depend on its order.

    imagegen-spend-journal 1 <base>     spend before the journal began
    H <id> <held>                       a call about to be sent
    S <id> <cost>                       it came back: its cost
    R <id>                              it came back unbilled (failed, refused)
    A <amount>                          spend recovered from a file with no journal
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir

HEADER = "imagegen-spend-journal 1"
# The key, in a candidate's PNG metadata and a prompt trace's index, that says the
# spend that made it is in the journal (so recovering it after a kill adds nothing).
JOURNALED = "spend_journal"
NANO = 1_000_000_000
# A line is about 30 bytes; the cost cap bounds one run's calls long before.
MAX_JOURNAL_BYTES = 16_000_000
# One billion dollars: a larger amount is not one a provider billed.
_MAX_AMOUNT = 10**18


def to_nano(usd: float) -> int:
    return max(0, round(usd * NANO))


@dataclass
class JournalState:
    """What a journal says: the spend it counts (None: no usable journal), and what was
    wrong with it."""

    total: int | None = None
    problems: list[str] = field(default_factory=list)
    # Why the journal's bytes could not be read at all (permissions, an I/O error, not a
    # regular file): what it counted is unknown, so it must not be folded over.
    unreadable: str | None = None


class SpendJournal:
    """`images/.spend-journal` of one episode. The Ledger calls it under its lock, so
    lines are appended in the order the ledger counts them."""

    def __init__(self, images: Callable[[bool], Dir | None]) -> None:
        """`images`: the episode's images folder (created when asked with True)."""
        self._images = images
        # Whether this run has written its first line (the fold, `start`).
        self.started = False

    def read(self) -> JournalState:
        folder = self._images(False)
        if folder is None or folder.stat(layout.SPEND_JOURNAL) is None:
            return JournalState()
        try:
            data = folder.read_bytes(
                layout.SPEND_JOURNAL, max_bytes=MAX_JOURNAL_BYTES, what="spend journal"
            )
        except (ImagegenError, OSError) as e:
            return JournalState(
                unreadable=f"{e}; imagegen pays for no call it cannot count: make the spend "
                "journal readable by the service (or remove it, and with it the spend it "
                "counted)"
            )
        state = parse(data)
        where = folder.path / layout.SPEND_JOURNAL
        state.problems = [f"{where}: {p}" for p in state.problems]
        return state

    def start(self, base: int) -> None:
        """The run's first line: a fresh journal counting `base`, all that the last one
        counted (each run folds it: it never grows past one run's calls, and a damaged
        line is said once). Written whole beside the old one and renamed over it, so
        a folder the run may not write stops the run here, before its first paid call,
        not after it."""
        folder = self._images(True)
        assert folder is not None
        folder.write_bytes(layout.SPEND_JOURNAL, f"{HEADER} {base}\n".encode())
        self.started = True

    def append(self, line: str, *, durable: bool) -> None:
        """One line; `durable` for a hold, which must survive anything that follows
        (a lost settle line only counts the call at its hold, never short)."""
        folder = self._images(True)
        assert folder is not None
        folder.append_bytes(layout.SPEND_JOURNAL, f"{line}\n".encode(), durable=durable)


def parse(data: bytes) -> JournalState:
    """The spend a journal counts. A line that does not parse (torn by a power cut, or
    not ours) is skipped and said; a bad header makes the journal unusable."""
    state = JournalState()
    lines = data.decode("utf-8", errors="replace").split("\n")
    # Every line ends with its newline: a last one without is torn (a power cut).
    torn = lines.pop()
    head = lines[0].rsplit(" ", 1) if lines else []
    if len(head) != 2 or head[0] != HEADER or _amount(head[1]) is None:
        state.problems.append("not a spend journal imagegen wrote; a new one is started")
        return state
    total = _amount(head[1]) or 0
    held: dict[str, int] = {}
    skipped = 1 if torn else 0
    for line in lines[1:]:
        parts = line.split(" ")
        kind = parts[0]
        amount = _amount(parts[-1]) if len(parts) > 1 else None
        if kind == "H" and len(parts) == 3 and amount is not None:
            held[parts[1]] = amount
        elif kind == "S" and len(parts) == 3 and amount is not None:
            held.pop(parts[1], None)
            total += amount
        elif kind == "R" and len(parts) == 2:
            held.pop(parts[1], None)
        elif kind == "A" and len(parts) == 2 and amount is not None:
            total += amount
        else:
            skipped += 1
    if skipped:
        state.problems.append(
            f"{skipped} line(s) that do not parse were skipped; the journal is written anew"
        )
    state.total = total + sum(held.values())
    return state


def _amount(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= _MAX_AMOUNT else None
