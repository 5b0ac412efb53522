"""Every image the fake made, with a perceptual fingerprint to recognise it again.

A client shows the fake's images back to it (a judge call, an edit's reference image,
Gemini or Replicate inputs) after resizing, re-encoding as JPEG or cropping them to 16:9.
``Registry.identify`` finds which generated image such bytes came from, so scripted
answers can depend on it ("score the blank one 10/10").

Fingerprints (Pillow only) are taken of the whole frame and of its centre crops to the
usual aspect ratios: a 16x16 RGB thumbnail, averaged from a 128 px working copy, and the
8x8 average hash (64 bits) of its grey version. Identification compares the query's
thumbnail with those of the same aspect ratio: the mean absolute difference per channel is
at most ~1.5 (of 255) for a copy that was resized, centre-cropped to 16:9, JPEG-encoded at
quality 80 and shrunk to 768 px, and at least ~15 between two different generated images,
so the default threshold is 8. The average hash alone is not used to decide: scenes with
the same layout (light sky, dark ground) often share it. Near-uniform ``blank`` images are
told apart only by their colour: a blank copy is identified as the blank of the closest
colour, and two blanks of about the same colour may be confused (they are equally blank).
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from PIL import Image, ImageChops, ImageStat

from tests.fakeapi import render

# Centre crops a client is likely to make, as width:height.
CROP_ASPECTS = ((16, 9), (9, 16), (4, 3), (3, 4), (1, 1), (3, 2), (2, 3), (21, 9), (5, 4), (4, 5))
WORKING_SIZE = 256  # long side of the copy fingerprints are taken from
DEFAULT_THRESHOLD = 8.0  # mean absolute difference of the 16x16 RGB thumbnails, 0-255
ASPECT_TOLERANCE = 0.04  # relative: which fingerprints a query is compared with
FILE_CACHE = 64  # encoded images kept for /_fake/files/ (others are rendered again)


@dataclass(frozen=True)
class Fingerprint:
    label: str  # "full" or the centre crop, e.g. "16:9"
    aspect: float  # width / height
    ahash: int  # 8x8 average hash of the grey thumbnail
    thumb: Image.Image = field(repr=False, compare=False)  # 16x16 RGB


@dataclass(frozen=True)
class GeneratedRecord:
    """One image the fake generated. ``id`` counts from 1 in the order images were made."""

    id: int
    endpoint: str  # "images", "edits", "gemini", "replicate"
    prompt: str
    model: str
    defect: str | None
    size: tuple[int, int]
    format: str  # "png", "jpeg", "webp"
    seed: str  # hex
    ahash: str  # 16 hex digits: the whole frame's 8x8 average hash
    text: tuple[str, ...] = ()  # letters drawn on a garbled_text image
    created_at: float = 0.0
    swatch: tuple[int, int, int] | None = None
    request_id: str | None = None
    fingerprints: tuple[Fingerprint, ...] = field(default=(), repr=False, compare=False)

    @property
    def file_path(self) -> str:
        """Where the fake serves it: ``GET {base_url}{file_path}``."""
        return f"/_fake/files/{self.id}.{self.format}"

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "prompt": self.prompt,
            "model": self.model,
            "defect": self.defect,
            "size": list(self.size),
            "format": self.format,
            "ahash": self.ahash,
            "text": list(self.text),
        }


def ahash(image: Image.Image) -> int:
    """64-bit average hash: bit set where the grey 8x8 cell is above the mean."""
    cells = image.convert("L").resize((8, 8), Image.Resampling.BOX).tobytes()
    mean = sum(cells) / 64
    bits = 0
    for cell in cells:
        bits = (bits << 1) | (1 if cell > mean else 0)
    return bits


def _working_copy(image: Image.Image) -> Image.Image:
    """An RGB copy with the long side about WORKING_SIZE, averaged from the full image."""
    if image.mode != "RGB":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode != "RGB":
            image = image.convert("RGB")
    factor = max(image.size) // WORKING_SIZE
    # reduce() averages integer blocks in C: several times faster than a BOX resize.
    return image.reduce(factor) if factor >= 2 else image.copy()


def _centre_crop(image: Image.Image, aspect: tuple[int, int]) -> Image.Image | None:
    width, height = image.size
    target = aspect[0] / aspect[1]
    current = width / height
    if abs(target - current) / current < 0.02:
        return None
    if target > current:  # wider: cut top and bottom
        new_height = width / target
        top = (height - new_height) / 2
        box = (0, round(top), width, round(top + new_height))
    else:
        new_width = height * target
        left = (width - new_width) / 2
        box = (round(left), 0, round(left + new_width), height)
    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
        return None
    return image.crop(box)


def _fingerprint(image: Image.Image, label: str, aspect: float) -> Fingerprint:
    thumb = image.resize((16, 16), Image.Resampling.BOX)
    return Fingerprint(label, aspect, ahash(thumb), thumb)


def fingerprints(image: Image.Image) -> tuple[Fingerprint, ...]:
    """Fingerprints of the whole frame and of its centre crops to CROP_ASPECTS."""
    small = _working_copy(image)
    width, height = image.size
    found = [_fingerprint(small, "full", width / height)]
    for aspect in CROP_ASPECTS:
        crop = _centre_crop(small, aspect)
        if crop is not None:
            found.append(_fingerprint(crop, f"{aspect[0]}:{aspect[1]}", aspect[0] / aspect[1]))
    return tuple(found)


def distance(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two 16x16 RGB thumbnails (0-255)."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def decode(data: bytes) -> Image.Image:
    """Fully decode image bytes (raises on anything Pillow cannot read to the end)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class Registry:
    """Thread-safe list of generated images; renders, registers and finds them again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[GeneratedRecord] = []
        self._per_prompt: Counter[str] = Counter()
        self._files: OrderedDict[int, bytes] = OrderedDict()

    # ------------------------------------------------------------ making

    def generate(
        self,
        *,
        endpoint: str,
        prompt: str,
        model: str,
        size: tuple[int, int],
        fmt: str = "png",
        defect: str | None = None,
        swatch: tuple[int, int, int] | None = None,
        request_id: str | None = None,
    ) -> tuple[GeneratedRecord, bytes]:
        """Render the next image for ``prompt``, register it and return (record, bytes)."""
        with self._lock:
            occurrence = self._per_prompt[prompt]
            self._per_prompt[prompt] += 1
        seed = render.seed_for(prompt, occurrence)
        drawn = render.render(seed, size[0], size[1], defect, swatch)
        data = render.encode(drawn.image, fmt)
        prints = fingerprints(drawn.image)
        with self._lock:
            record = GeneratedRecord(
                id=len(self._records) + 1,
                endpoint=endpoint,
                prompt=prompt,
                model=model,
                defect=defect,
                size=size,
                format=fmt,
                seed=seed.hex(),
                ahash=f"{prints[0].ahash:016x}",
                text=drawn.text,
                created_at=time.time(),
                swatch=swatch,
                request_id=request_id,
                fingerprints=prints,
            )
            self._records.append(record)
            self._remember_file(record.id, data)
        return record, data

    def _remember_file(self, record_id: int, data: bytes) -> None:
        self._files[record_id] = data
        self._files.move_to_end(record_id)
        while len(self._files) > FILE_CACHE:
            self._files.popitem(last=False)

    def file(self, record_id: int) -> tuple[GeneratedRecord, bytes] | None:
        """The encoded bytes of a generated image (rendered again when no longer cached)."""
        with self._lock:
            if not 1 <= record_id <= len(self._records):
                return None
            record = self._records[record_id - 1]
            data = self._files.get(record_id)
        if data is None:
            drawn = render.render(
                bytes.fromhex(record.seed), *record.size, record.defect, record.swatch
            )
            data = render.encode(drawn.image, record.format)
            with self._lock:
                self._remember_file(record_id, data)
        return record, data

    # ------------------------------------------------------------ finding

    @property
    def records(self) -> list[GeneratedRecord]:
        with self._lock:
            return list(self._records)

    def get(self, record_id: int) -> GeneratedRecord | None:
        with self._lock:
            if 1 <= record_id <= len(self._records):
                return self._records[record_id - 1]
        return None

    def identify(
        self, image: bytes | Image.Image, threshold: float = DEFAULT_THRESHOLD
    ) -> GeneratedRecord | None:
        """The generated image these bytes (or this image) came from, or None.

        Survives resizing, JPEG/WebP re-encoding and centre crops to common aspect ratios.
        The nearest fingerprint within ``threshold`` wins (on a tie, the newest image).
        """
        match = self.nearest(image)
        return match[0] if match is not None and match[1] <= threshold else None

    def nearest(self, image: bytes | Image.Image) -> tuple[GeneratedRecord, float] | None:
        """The closest generated image and its distance, however far (None if none yet)."""
        picture = decode(image) if isinstance(image, bytes) else image
        small = _working_copy(picture)
        query = small.resize((16, 16), Image.Resampling.BOX)
        aspect = picture.size[0] / picture.size[1]
        records = self.records
        best: tuple[float, int] | None = None
        for same_shape_only in (True, False):
            for record in records:
                for print_ in record.fingerprints:
                    similar = abs(print_.aspect - aspect) / aspect <= ASPECT_TOLERANCE
                    if similar != same_shape_only:
                        continue
                    key = (distance(print_.thumb, query), -record.id)
                    if best is None or key < best:
                        best = key
            if best is not None:
                break
        if best is None:
            return None
        return records[-best[1] - 1], best[0]

    # ------------------------------------------------------------ bookkeeping

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._per_prompt.clear()
            self._files.clear()

    def summary(self) -> dict[str, object]:
        with self._lock:
            by_defect = Counter(str(record.defect) for record in self._records)
            by_endpoint = Counter(record.endpoint for record in self._records)
            return {
                "count": len(self._records),
                "by_defect": dict(by_defect),
                "by_endpoint": dict(by_endpoint),
            }
