"""Training sets rendered by the engine (the original ``synth_generator.py``, done properly).

A dataset is a folder::

    dataset.json          what was asked for: synth, spec fingerprint, seed, size, draw, captures, format
    values.npy            float64 [size, n_params], real parameter values (from the seed alone)
    labels.npy            int16 [size, n_params], nearest class index per parameter
    shards/audio-NNNNN.npy  float16|float32 [shard_size, clip_samples], memory-mappable
    meta.csv              id, then class index and real value of every parameter
    wav/NNNNNN.wav        optional, one file per clip

Patches are drawn from ``seed`` before any rendering: on the class grid
(``draw="grid"``, the paper's datasets) or uniformly over every parameter's
whole range (``draw="continuous"``: off-grid values, any pitch the synth
plays) or like an instrument's note (``draw="instrument"``: the synth module's
``instrument_like`` rule; its captures are recordings, with a room and a
level). A share ``captured`` of the shards goes through a simulated live capture
(:mod:`~inversynth.training.capture_sim`). Shard ``k`` holds clips ``k*shard_size ...``;
rendering is deterministic, so the bytes are the same whatever the number of workers.
Every file is written atomically, so an interrupted run leaves only whole shards, and
running the same command again renders just the missing ones. ``--shards I/N`` renders only machine I's share
of N, so several machines fill one dataset with the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inversynth.atomic import atomic_open, atomic_write_text
from inversynth.audio_files import write_audio
from inversynth.engine.render import renderer, run_in_pool, worker_pool
from inversynth.engine.spec import SynthSpec
from inversynth.engine.synths import get_spec, instrument_values
from inversynth.errors import DatasetError
from inversynth.training.capture_sim import capture, plan_capture

FORMAT = "inversynth-dataset"
FORMAT_VERSION = 1
DTYPES = ("float16", "float32")
DRAWS = ("grid", "continuous", "instrument")
MAX_SIZE = 10_000_000


@dataclass(frozen=True)
class DatasetInfo:
    """The contents of ``dataset.json``; two runs with equal infos produce identical bytes."""

    synth: str
    spec_version: int
    spec_fingerprint: str
    params: tuple[str, ...]
    sample_rate: int
    clip_samples: int
    size: int
    seed: int
    shard_size: int
    dtype: str
    draw: str = "grid"
    captured: float = 0.0
    variant: dict[str, Any] = field(
        default_factory=dict
    )  # classes, seconds, sample_rate: a variant of the synth's spec
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def n_shards(self) -> int:
        return -(-self.size // self.shard_size)

    def shard_rows(self, index: int) -> range:
        return range(index * self.shard_size, min(self.size, (index + 1) * self.shard_size))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def repeats(self, training: Mapping[str, Any]) -> dict[str, Any] | None:
        """The training set (a run's recorded recipe: ``training["sets"]``, or the one set older runs
        recorded) whose patches this dataset's clips repeat: the same seed and draw (draws are
        prefix-stable, so a smaller set of the training seed is its first clips, captured or not; an
        older recipe without its draw counts by seed). None when the clips are held out."""
        sets = training.get("sets") or ([training] if "seed" in training else [])
        for recipe in sets:
            if recipe.get("seed") == self.seed and recipe.get("draw", self.draw) == self.draw:
                return dict(recipe)
        return None

    @classmethod
    def from_file(cls, path: Path) -> DatasetInfo:
        try:
            data = json.loads(path.read_text())
            data["params"] = tuple(data["params"])
            info = cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DatasetError(f"{path} is not a readable dataset description ({exc})") from None
        if info.format != FORMAT or info.format_version != FORMAT_VERSION:
            raise DatasetError(
                f"{path} is format {info.format} v{info.format_version}, expected {FORMAT} v{FORMAT_VERSION}"
            )
        return info


def plan(
    synth: str,
    size: int,
    seed: int,
    shard_size: int = 1024,
    dtype: str = "float16",
    draw: str = "grid",
    captured: float = 0.0,
    variant: dict[str, Any] | None = None,
) -> DatasetInfo:
    """Validate a request and describe the dataset it makes (of a ``variant`` of the synth's spec, if given)."""
    variant = {k: v for k, v in (variant or {}).items() if v is not None}
    spec = get_spec(synth, variant)
    if not 1 <= size <= MAX_SIZE:
        raise DatasetError(f"dataset size {size} is outside 1..{MAX_SIZE}")
    if not 1 <= shard_size <= 65536:
        raise DatasetError(f"shard size {shard_size} is outside 1..65536")
    if not 0 <= seed < 2**63:
        raise DatasetError(f"seed {seed} is outside 0..2**63-1")
    if dtype not in DTYPES:
        raise DatasetError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if draw not in DRAWS:
        raise DatasetError(f"draw {draw!r} is not one of {', '.join(DRAWS)}")
    if not 0.0 <= captured <= 1.0:
        raise DatasetError(f"captured share {captured} is outside 0..1")
    return DatasetInfo(
        synth=spec.name,
        spec_version=spec.version,
        spec_fingerprint=spec.fingerprint(),
        params=spec.names,
        sample_rate=spec.sample_rate,
        clip_samples=spec.clip_samples,
        size=size,
        seed=seed,
        shard_size=shard_size,
        dtype=dtype,
        draw=draw,
        captured=captured,
        variant=variant,
    )


def draw_values(spec: SynthSpec, size: int, seed: int, draw: str = "grid") -> np.ndarray:
    """Real parameter values for every clip, float64 [size, n_params], from the seed alone."""
    rng = np.random.default_rng(seed)
    if draw == "grid":
        return spec.classes_to_values(spec.random_classes(rng, size))
    if draw == "instrument":
        return instrument_values(spec, rng, size)
    return spec.random_values(rng, size)


def shard_path(folder: Path, index: int) -> Path:
    return folder / "shards" / f"audio-{index:05d}.npy"


def wav_path(folder: Path, clip: int) -> Path:
    return folder / "wav" / f"{clip:06d}.wav"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_open(path) as handle:
        np.save(handle, array)


def render_shard(folder: Path, info: DatasetInfo, index: int, values: np.ndarray, wav: bool) -> int:
    """Render shard ``index`` (``values``: that shard's patches) into ``folder``; return its clip count."""
    spec = get_spec(info.synth, info.variant)
    rows = info.shard_rows(index)
    rng = np.random.default_rng([info.seed, index])  # the shard's own stream: same bytes for any worker count
    plan = plan_capture(rng, len(rows), info.captured, recording=info.draw == "instrument")
    if plan is None:
        audio = renderer(info.synth, info.sample_rate).render(values, info.clip_samples)
    else:
        seconds = info.clip_samples / info.sample_rate
        audio = capture(renderer(info.synth, plan.rate).render(values, round(seconds * plan.rate)), plan, spec, rng)
    if wav:
        for offset, clip in enumerate(rows):
            write_audio(wav_path(folder, clip), audio[offset], info.sample_rate)
    _save_npy(shard_path(folder, index), audio.astype(info.dtype))
    return len(rows)


def _rows(values: np.ndarray, info: DatasetInfo, index: int) -> np.ndarray:
    rows = info.shard_rows(index)
    return values[rows.start : rows.stop]


def _prepare(folder: Path, info: DatasetInfo, wav: bool) -> None:
    """Create or reopen the folder; refuse one that holds something else."""
    description = folder / "dataset.json"
    if description.exists():
        existing = DatasetInfo.from_file(description)
        if existing != info:
            raise DatasetError(
                f"{folder} already holds a different dataset (synth {existing.synth}, size {existing.size}, "
                f"seed {existing.seed}, dtype {existing.dtype}); choose another --out or delete it"
            )
    elif folder.exists() and any(folder.iterdir()):
        raise DatasetError(f"{folder} is not empty and holds no dataset.json; choose an empty or new folder")
    try:
        (folder / "shards").mkdir(parents=True, exist_ok=True)
        if wav:
            (folder / "wav").mkdir(exist_ok=True)
        if not description.exists():
            atomic_write_text(description, info.to_json())
    except OSError as exc:
        raise DatasetError(f"cannot write the dataset folder {folder}: {exc.strerror or exc}") from None


def _meta_csv(spec: SynthSpec, values: np.ndarray, labels: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *(f"{n}_class" for n in spec.names), *spec.names])
    for clip, (classes, reals) in enumerate(zip(labels, values, strict=True)):
        writer.writerow([clip, *(int(c) for c in classes), *(f"{v:.9g}" for v in reals)])
    return buffer.getvalue()


def check_share(share: tuple[int, int]) -> tuple[int, int]:
    """``(i, n)``: machine i (1-based) of n renders the shards whose index % n == i - 1."""
    i, n = share
    if not 1 <= i <= n:
        raise DatasetError(f"shards {i}/{n}: need 1 <= I <= N (this machine's share I of N machines)")
    return share


def share_clips(info: DatasetInfo, share: tuple[int, int]) -> int:
    """How many clips machine ``share`` renders."""
    i, n = check_share(share)
    return sum(len(info.shard_rows(k)) for k in range(i - 1, info.n_shards, n))


def build(
    folder: Path,
    info: DatasetInfo,
    workers: int = 1,
    wav: bool = False,
    progress: Callable[[int], None] | None = None,
    share: tuple[int, int] = (1, 1),
) -> int:
    """Render every missing shard of ``info`` (of this machine's ``share``) into ``folder``; return how many
    clips were rendered now.

    ``share = (i, n)``: machine i of n renders shards i-1, i-1+n, ...: n machines writing one shared
    folder (or n folders whose ``shards/`` are then put together) make the bytes one machine would.
    ``progress`` is called with the clip count of each shard as it lands
    (already present shards included, so a bar can start where the last run stopped).
    """
    first, every = check_share(share)
    folder = Path(folder)
    _prepare(folder, info, wav)
    spec = get_spec(info.synth, info.variant)
    values = draw_values(spec, info.size, info.seed, info.draw)
    labels = spec.values_to_classes(values).astype(np.int16)
    for name, array in (("values.npy", values), ("labels.npy", labels)):
        if not (folder / name).exists():
            _save_npy(folder / name, array)
    report = progress or (lambda _count: None)
    missing = []
    for index in range(first - 1, info.n_shards, every):
        done = shard_path(folder, index).exists() and (
            not wav or all(wav_path(folder, c).exists() for c in info.shard_rows(index))
        )
        if done:
            report(len(info.shard_rows(index)))
        else:
            missing.append(index)
    rendered = 0
    if workers == 1 or len(missing) <= 1:
        for index in missing:
            count = render_shard(folder, info, index, _rows(values, info, index), wav)
            rendered += count
            report(count)
    else:
        with worker_pool(info.synth, info.sample_rate, min(workers, len(missing))) as pool:
            jobs = [(folder, info, index, _rows(values, info, index), wav) for index in missing]
            for count in run_in_pool(pool, render_shard, jobs):
                rendered += count
                report(count)
    atomic_write_text(folder / "meta.csv", _meta_csv(spec, values, labels))
    return rendered


class Dataset:
    """A finished dataset, memory-mapped: ``audio(i)``, ``labels`` (nearest classes), ``values`` (real)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        description = self.folder / "dataset.json"
        if not description.exists():
            raise DatasetError(f"{self.folder} holds no dataset.json; make one with 'inversynth dataset'")
        self.info = DatasetInfo.from_file(description)
        self.spec = get_spec(self.info.synth, self.info.variant)
        if self.spec.fingerprint() != self.info.spec_fingerprint:
            raise DatasetError(
                f"{self.folder} was rendered with another version of synth '{self.info.synth}' "
                f"(spec {self.info.spec_fingerprint}, now {self.spec.fingerprint()})"
            )
        missing = [i for i in range(self.info.n_shards) if not shard_path(self.folder, i).exists()]
        if missing:
            raise DatasetError(
                f"{self.folder} is incomplete ({len(missing)} of {self.info.n_shards} shards missing); "
                "run the same 'inversynth dataset' command again to finish it"
            )
        self.labels: np.ndarray = np.load(self.folder / "labels.npy")
        self.values: np.ndarray = np.load(self.folder / "values.npy")
        self._shards = [np.load(shard_path(self.folder, i), mmap_mode="r") for i in range(self.info.n_shards)]

    def __len__(self) -> int:
        return self.info.size

    def audio(self, clip: int) -> np.ndarray:
        """One clip as float32 [clip_samples]."""
        if not 0 <= clip < self.info.size:
            raise DatasetError(f"clip {clip} is outside 0..{self.info.size - 1}")
        shard, row = divmod(clip, self.info.shard_size)
        return np.asarray(self._shards[shard][row], dtype=np.float32)

    def audio_batch(self, clips: np.ndarray) -> np.ndarray:
        """Several clips as float32 [len(clips), clip_samples]."""
        return np.stack([self.audio(int(c)) for c in clips])


class TrainingSet:
    """Datasets of one synth and spec variant read as one (clips of the second follow the first's), each
    with its last ``val_clips`` held for validation and at most its first ``max_clips`` used."""

    def __init__(self, folders: Sequence[Path], val_clips: int, max_clips: int | None = None) -> None:
        self.parts = [Dataset(folder) for folder in folders]
        self.spec = self.parts[0].spec
        for part in self.parts[1:]:
            if part.spec.fingerprint() != self.spec.fingerprint():
                raise DatasetError(
                    f"{part.folder} holds synth '{part.info.synth}' spec {part.spec.fingerprint()}, "
                    f"{self.parts[0].folder} spec {self.spec.fingerprint()}: one training run reads one spec"
                )
        used = [min(len(part), max_clips or len(part)) for part in self.parts]
        for part, count in zip(self.parts, used, strict=True):
            if count <= val_clips:
                raise DatasetError(
                    f"{part.folder} has {count} clips; need more than the {val_clips} held for validation"
                )
        self.starts = np.cumsum([0, *(len(part) for part in self.parts)])
        self.values = np.concatenate([part.values for part in self.parts])
        ranges = [(start, start + count) for start, count in zip(self.starts, used, strict=False)]
        self.train_clips = np.concatenate([np.arange(lo, hi - val_clips) for lo, hi in ranges])
        self.val_clips = np.concatenate([np.arange(hi - val_clips, hi) for lo, hi in ranges])

    def audio_batch(self, clips: np.ndarray) -> np.ndarray:
        """Clips by their index in the joined set, as float32 [len(clips), clip_samples]."""
        out = np.empty((len(clips), self.spec.clip_samples), dtype=np.float32)
        part_of = np.searchsorted(self.starts, clips, side="right") - 1
        for k, part in enumerate(self.parts):
            mine = part_of == k
            if mine.any():
                out[mine] = part.audio_batch(np.asarray(clips)[mine] - self.starts[k])
        return out

    def describe(self) -> dict[str, Any]:
        """What a run records of its data: the spec variant and, per folder, what made it."""
        return {
            "spec_fingerprint": self.spec.fingerprint(),
            "variant": self.parts[0].info.variant,
            "sets": [
                {key: getattr(p.info, key) for key in ("size", "seed", "draw", "captured")} | {"folder": str(p.folder)}
                for p in self.parts
            ],
            "train_clips": len(self.train_clips),
            "val_clips": len(self.val_clips),
        }
