"""The spend journal: every paid call on disk before it is sent, so imagegen's count of
its spend survives a kill at any moment, exactly once (the whole-run kill tests are
in test_crash_and_lock.py). Real files under a real folder handle."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.files.dirs import Dir
from handlers.money.journal import HEADER, MAX_JOURNAL_BYTES, SpendJournal, parse
from handlers.money.ledger import CostCapReached, JournalUnreadable, Ledger
from tests.conftest import REPO

NAME = ".spend-journal"


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Dir]:
    with Dir.open(tmp_path) as top:
        yield top


def journal_of(root: Dir) -> SpendJournal:
    return SpendJournal(
        lambda create: root.make_dir("images") if create else root.find_dir("images")
    )


def ledger_of(
    root: Dir, manifest_usd: float = 0.0, cap: float = 10.0, warnings: list[str] | None = None
) -> Ledger:
    return Ledger(cap, manifest_usd, lambda: 0.0, journal=journal_of(root), warnings=warnings)


def lines(tmp_path: Path) -> list[str]:
    return (tmp_path / "images" / NAME).read_text().splitlines()


def test_every_call_is_written_before_it_is_sent_and_counted_again_exactly(root, tmp_path):
    ledger = ledger_of(root, manifest_usd=1.5)
    with ledger.hold(0.05, "image") as hold:
        # On disk before the call leaves: a kill from here on still counts it.
        assert lines(tmp_path) == [f"{HEADER} 1500000000", f"H {hold.id} 50000000"]
        hold.settle(0.04)
    with ledger.hold(0.01, "judge"):
        pass  # the call failed: released, never counted
    with ledger.hold(0.003, "prompt") as hold:
        hold.settle(0.0021)
    assert ledger.cumulative == pytest.approx(1.5421)
    kinds = [line.split()[0] for line in lines(tmp_path)[1:]]
    assert kinds == ["H", "S", "H", "R", "H", "S"]
    # The next run counts the same, to the nano-dollar, whatever its manifest says.
    assert ledger_of(root, manifest_usd=1.5).cumulative == ledger.cumulative
    assert ledger_of(root, manifest_usd=0.0).cumulative == ledger.cumulative


def test_a_call_in_flight_at_a_kill_counts_at_its_hold(root):
    ledger = ledger_of(root)
    with ledger.hold(0.04, "image") as hold:
        hold.settle(0.04)
    in_flight = ledger.hold(0.17, "image")
    in_flight.__enter__()  # the process dies here: no settle line, no release line
    assert ledger_of(root).cumulative == pytest.approx(0.21)


def test_the_cap_counts_what_the_journal_knows(root):
    first = ledger_of(root, cap=0.1)
    with first.hold(0.06, "image") as hold:
        hold.settle(0.06)
    # The manifest was never written (a kill): the journal still holds the cap.
    second = ledger_of(root, manifest_usd=0.0, cap=0.1)
    with pytest.raises(CostCapReached, match=r"\$0\.040 left"), second.hold(0.05, "image"):
        pass


def test_recovered_spend_is_added_only_where_no_journal_counted_it(root, tmp_path):
    journaled = ledger_of(root)
    with journaled.hold(0.04, "image") as hold:
        hold.settle(0.04)
    again = ledger_of(root)
    again.add_recovered(0.04, journaled=True)  # a candidate the journal already counted
    assert again.cumulative == pytest.approx(0.04)
    # One a run before journals left (that run's manifest never counted it): counted,
    # though this episode has a journal now.
    again.add_recovered(0.04, journaled=False)
    assert again.cumulative == pytest.approx(0.08)
    assert lines(tmp_path) == [f"{HEADER} 40000000", "A 40000000"]

    (tmp_path / "images" / NAME).unlink()  # lost: only the manifest's figure is left
    without = ledger_of(root, manifest_usd=0.5)
    without.add_recovered(0.04, journaled=True)
    assert without.cumulative == pytest.approx(0.54)
    # Written down at once: the next run does not add it a second time.
    assert lines(tmp_path) == [f"{HEADER} 500000000", "A 40000000"]
    assert ledger_of(root).cumulative == pytest.approx(0.54)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        HEADER.encode(),  # torn before its newline
        b"\xff\xfe garbage\n",
        b"H abc 100\nS abc 100\n",
        f"{HEADER} -5\n".encode(),
        f"{HEADER} \u00b2\n".encode(),
        f"{HEADER} {10**30}\n".encode(),
    ],
)
def test_a_journal_imagegen_did_not_write_is_said_and_started_again(root, tmp_path, content):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / NAME).write_bytes(content)
    warnings: list[str] = []
    ledger = ledger_of(root, manifest_usd=0.3, warnings=warnings)
    assert len(warnings) == 1 and "images/.spend-journal" in warnings[0], warnings
    assert "not a spend journal imagegen wrote" in warnings[0]
    assert ledger.cumulative == pytest.approx(0.3)  # the manifest's count stands
    with ledger.hold(0.01, "image") as hold:
        hold.settle(0.01)
    assert lines(tmp_path)[0] == f"{HEADER} 300000000"
    assert ledger_of(root).cumulative == pytest.approx(0.31)


def test_lines_that_do_not_parse_are_skipped_said_and_folded_away(root, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / NAME).write_text(
        f"{HEADER} 0\nH a 40000000\nS a 40000000\nX nonsense\nS b -3\nH c 40000000\nS c 4000"
    )  # the last line torn by a power cut: c counts at its hold
    state = parse((tmp_path / "images" / NAME).read_bytes())
    assert state.total == 80_000_000
    warnings: list[str] = []
    ledger = ledger_of(root, warnings=warnings)
    assert ledger.cumulative == pytest.approx(0.08)
    assert len(warnings) == 1 and "3 line(s) that do not parse" in warnings[0], warnings
    with ledger.hold(0.01, "image") as hold:
        hold.settle(0.01)
    # The run's first line starts a clean journal with the same count: said once.
    assert lines(tmp_path)[0] == f"{HEADER} 80000000"
    warnings = []
    assert ledger_of(root, warnings=warnings).cumulative == pytest.approx(0.09)
    assert warnings == []


def test_each_run_folds_the_journal_into_its_header_before_its_first_call(root, tmp_path):
    first = ledger_of(root)
    with first.hold(0.04, "image") as hold:
        hold.settle(0.04)
    killed = first.hold(0.17, "image")
    killed.__enter__()  # in flight at a kill: counted at its hold from here on
    assert len(lines(tmp_path)) == 4
    second = ledger_of(root)
    assert lines(tmp_path)[0] == f"{HEADER} 0"  # reading writes nothing
    with second.hold(0.01, "image") as hold:
        # Folded before the call left: the journal holds one run's calls at most.
        assert lines(tmp_path) == [f"{HEADER} 210000000", f"H {hold.id} 10000000"]
        hold.settle(0.01)
    assert ledger_of(root).cumulative == pytest.approx(0.22)


@pytest.mark.parametrize("kind", ["symlink", "directory", "too big"])
def test_a_journal_that_cannot_be_read_stops_every_paid_call(root, tmp_path, kind):
    """What it counted is unknown: folding over it would forget that spend, so nothing
    is paid until the operator fixes it (the message says how)."""
    (tmp_path / "images").mkdir()
    journal = tmp_path / "images" / NAME
    outside = tmp_path / "outside.txt"
    outside.write_text(f"{HEADER} 0\n")
    if kind == "symlink":
        journal.symlink_to(outside)
    elif kind == "directory":
        journal.mkdir()
    else:
        with open(journal, "wb") as f:
            f.truncate(MAX_JOURNAL_BYTES + 1)  # sparse: instant
    warnings: list[str] = []
    ledger = ledger_of(root, manifest_usd=0.2, warnings=warnings)
    assert len(warnings) == 1 and "images/.spend-journal" in warnings[0], warnings
    assert "pays for no call it cannot count" in warnings[0]
    with (
        pytest.raises(JournalUnreadable, match="readable by the service"),
        ledger.hold(0.04, "image"),
    ):
        pytest.fail("a call was let through without its journal line")
    assert ledger.cumulative == pytest.approx(0.2)
    assert outside.read_text() == f"{HEADER} 0\n"  # never written through
    assert journal.is_symlink() or journal.is_dir() or journal.stat().st_size > MAX_JOURNAL_BYTES


def test_an_append_the_disk_cuts_short_leaves_no_part_of_a_line(tmp_path):
    """A line the file system takes only part of (disk full; here RLIMIT_FSIZE, which
    makes write() stop at the limit as a full disk does) is cut back: the next line
    appended is not glued to a fragment and lost to the parser."""
    (tmp_path / NAME).write_text(f"{HEADER} 0\n")
    size = (tmp_path / NAME).stat().st_size
    script = f"""
import resource, signal
from pathlib import Path
from handlers.files.dirs import Dir
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({size} + 10, resource.RLIM_INFINITY))
with Dir.open(Path({str(tmp_path)!r})) as d:
    try:
        d.append_bytes({NAME!r}, b"H abcdef123456 40000000\\n", durable=True)
    except OSError as e:
        print("refused", e.errno)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
    assert (tmp_path / NAME).read_text() == f"{HEADER} 0\n"


def test_a_settle_the_journal_cannot_take_loses_no_paid_call(root, tmp_path):
    ledger = ledger_of(root)
    with ledger.hold(0.04, "image") as hold:
        journal = tmp_path / "images" / NAME
        journal.unlink()
        journal.mkdir()  # the file is gone and its name taken: no line can be appended
        hold.settle(0.04)  # the image came back: it must reach its chapter
    # Counted for this run; the next one counts the call at its hold line, or (the
    # journal being unreadable, as here) pays for nothing until it is fixed.
    assert ledger.cumulative == pytest.approx(0.04)
    assert ledger.run_cost == pytest.approx(0.04)
