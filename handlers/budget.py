"""The episode cost cap: every paid call reserves its price first, under one lock,
so parallel workers can never spend past `max_episode_cost_usd` together."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from handlers.errors import ImagegenError
from handlers.reading import read_json

OWN_PROVENANCE = "imagegen_provenance.json"
_EPSILON = 1e-9


@dataclass(frozen=True)
class Reservation:
    amount: float


class Budget:
    def __init__(self, cap_usd: float, spent_usd: float) -> None:
        self.cap = cap_usd
        self._spent = spent_usd
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> Reservation | None:
        """Hold `amount`, or None when it would take the episode past the cap."""
        with self._lock:
            if self._spent + self._reserved + amount > self.cap + _EPSILON:
                return None
            self._reserved += amount
            return Reservation(amount)

    def settle(self, reservation: Reservation, actual: float) -> None:
        """The call finished: turn its hold into what it really cost."""
        with self._lock:
            self._reserved -= reservation.amount
            self._spent += actual

    def release(self, reservation: Reservation) -> None:
        """The call was not billed (it failed before the provider produced anything)."""
        with self._lock:
            self._reserved -= reservation.amount

    @property
    def spent(self) -> float:
        with self._lock:
            return self._spent

    @property
    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self.cap - self._spent - self._reserved)


def upstream_spend(provenance_dir: Path, warnings: list[str]) -> float:
    """Sum of `cost_usd` in every other stage's provenance/*_provenance.json."""
    total = 0.0
    if not provenance_dir.is_dir():
        return 0.0
    for path in sorted(provenance_dir.glob("*.json")):
        if path.name == OWN_PROVENANCE:
            continue
        try:
            data = read_json(path, max_bytes=10_000_000, what="provenance record")
        except (ImagegenError, OSError, ValueError):
            warnings.append(f"{path}: unreadable provenance; its cost is not counted")
            continue
        cost = data.get("cost_usd") if isinstance(data, dict) else None
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            total += float(cost)
    return total
