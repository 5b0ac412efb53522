"""Whether a run makes a storyboard, and what it finds of the last one, before anything
heavy is loaded (a run that finds everything current answers "up to date" without
Pillow or an SDK; the steps themselves are handlers/run/storyboarding.py), and what
those steps did, for the episode's result and provenance.

A run keeps a storyboard when `storyboard.enabled` (or `imagegen run --storyboard`)
asks for one, when the episode already has storyboard/storyboard.json (an episode that
has a storyboard keeps it current: delete the folder to stop), or when a marker in
storyboard/ asks for a clip."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config.settings import Settings
from handlers.api.llm import keyed_llm
from handlers.episode import layout
from handlers.episode.chapters import TEMPLATE_TYPES, Episode
from handlers.episode.dirs import EpisodeDirs
from handlers.files.dirs import Dir
from handlers.money.pricing import PriceTable
from handlers.outputs.markers import Marker, find_marker
from handlers.plan.fingerprint import image_settings_hash, template_settings_hash
from handlers.result import RunRequest, RunResult
from handlers.run.services import Services

if TYPE_CHECKING:
    # Loaded by storyboard_for for an episode that has a storyboard: the common run
    # (none) and the "up to date" answer do not pay for their models.
    from handlers.storyboard.model import Storyboard
    from handlers.storyboard.planners import Planner
    from handlers.storyboard.steps import BoardPlan, FrameRules


@dataclass
class BoardResult:
    """What the storyboard's steps did in this run."""

    clips: dict[str, str] = field(default_factory=dict)
    frames_made: int = 0
    failures: list[str] = field(default_factory=list)
    sha256: str | None = None
    cost_usd: float = 0.0

    def facts(self) -> dict[str, object]:
        """For provenance: the storyboard.json this run left and its clips."""
        return {
            "file": f"{layout.STORYBOARD_DIR}/{layout.STORYBOARD}",
            "sha256": self.sha256,
            "clips": dict(self.clips),
            "frames_made": self.frames_made,
            "cost_usd": self.cost_usd,
        }

    def summary(self) -> str:
        made = f", {self.frames_made} frames made" if self.frames_made else ""
        return f"storyboard: {len(self.clips)} clips{made}"

    def apply(self, result: RunResult) -> None:
        """The storyboard's part of the episode's result: a failed clip fails the
        episode, as a failed chapter does (the daemon tries it again)."""
        result.storyboard = self.summary()
        if self.failures and result.outcome == "ok":
            result.outcome = "failed"
            result.message = "; ".join(self.failures)


@dataclass
class BoardRun:
    """The storyboard's part of one episode run, as planned."""

    dirs: EpisodeDirs
    episode: Episode
    settings: Settings
    services: Services
    planner: Planner
    plan: BoardPlan
    rules: FrameRules

    @property
    def previous(self) -> Storyboard | None:
        return self.plan.previous

    @property
    def cumulative_before(self) -> float:
        """imagegen's spend on the episode as the storyboard last recorded it (a run
        killed after paying for a frame wrote it here, not yet in the manifest)."""
        return self.previous.cumulative_cost_usd if self.previous else 0.0

    def pending(self) -> str | None:
        return self.plan.pending(
            self.episode, self.rules, lambda chapter_id: self.dirs.clip(chapter_id)
        )


def storyboard_for(
    dirs: EpisodeDirs,
    episode: Episode,
    settings: Settings,
    services: Services,
    request: RunRequest,
    warnings: list[str],
) -> BoardRun | None:
    """The storyboard work of this run, or None when the episode makes none."""
    if request.mode != "run":
        return None  # picks and re-rankings pay for nothing
    folder = dirs.storyboard()
    markers = _markers(folder, episode, warnings)
    all_marker = find_marker(folder, layout.STORYBOARD_STALE, warnings)
    has_file = folder is not None and folder.stat(layout.STORYBOARD) is not None
    if not (settings.storyboard.enabled or has_file or markers or all_marker):
        return None
    from handlers.storyboard.model import read_storyboard
    from handlers.storyboard.planners import identity
    from handlers.storyboard.steps import BoardPlan, ClipWork, sheet_hash

    previous = read_storyboard(folder, warnings)
    planner = planner_for(settings, services.prices)
    facts = identity(planner)
    selected = request.chapters
    clips = []
    for number, chapter in enumerate(episode.chapters, start=1):
        cid = chapter.chapter_id
        marker = markers.get(cid)
        work = ClipWork(chapter, number, previous.clip(cid) if previous else None, marker=marker)
        if selected is not None:
            work.selected = cid in selected
            work.forced = "selected with --chapter" if work.selected else None
        elif request.force:
            work.forced = "forced"
        elif marker is not None:
            work.forced = f"marker {marker.describe()}"
            work.token = marker_token(marker)
        elif all_marker is not None:
            work.forced = f"marker {all_marker.describe()}"
            work.token = marker_token(all_marker)
        clips.append(work)
    plan = BoardPlan(
        previous=previous,
        clips=clips,
        planner=facts,
        sheet_hash=sheet_hash(facts, episode.doc.title, episode.chapters),
        all_marker=all_marker,
    )
    if request.force and selected is None:
        plan.sheet_forced = "forced"
    elif all_marker is not None:
        plan.sheet_forced = f"marker {all_marker.describe()}"
    return BoardRun(
        dirs, episode, settings, services, planner, plan, frame_rules(settings, services)
    )


def planner_for(settings: Settings, prices: PriceTable) -> Planner:
    """`storyboard.planner = "auto"`: Anthropic when its key is present, else OpenAI,
    else the template planner."""
    choice = settings.storyboard.planner
    if choice == "auto":
        choice = keyed_llm(settings) or "template"
    if choice == "template":
        from handlers.storyboard.planners import TemplatePlanner

        return TemplatePlanner()
    # Loaded only for an LLM planner; its SDK is imported on the first question.
    from handlers.storyboard.llm import LLMPlanner

    return LLMPlanner("anthropic" if choice == "anthropic" else "openai", settings, prices)


def marker_token(marker: Marker) -> str:
    """A marker's identity as a string: the same file, not rewritten since."""
    ino, mtime_ns, size = marker.identity
    return f"{marker.name}:{ino}:{mtime_ns}:{size}"


def frame_rules(settings: Settings, services: Services) -> FrameRules:
    from handlers.storyboard.steps import FrameRules

    templates = template_settings_hash(settings)
    hashes: dict[str, str] = {}

    def settings_hash(visual_type: str) -> str:
        if visual_type in TEMPLATE_TYPES:
            return templates
        if visual_type not in hashes:
            spec = services.primary_for(visual_type)
            hashes[visual_type] = image_settings_hash(settings, spec, None, None)
        return hashes[visual_type]

    return FrameRules(settings.prompt.style_prefix, settings_hash)


def _markers(folder: Dir | None, episode: Episode, warnings: list[str]) -> dict[str, Marker]:
    found = {}
    for ch in episode.chapters:
        m = find_marker(folder, layout.clip_stale_name(ch.chapter_id), warnings)
        if m is not None:
            found[ch.chapter_id] = m
    return found
