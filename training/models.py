"""Models that map raw audio to one softmax per synth parameter over its head's bins.

Every model takes raw audio, float32 [batch, samples] at the spec's sample
rate, and returns logits [batch, n_params, max_bins]; features are computed
inside the model so the exported ONNX file needs nothing but audio. The heads
come from the spec: ``n_bins`` logits per parameter, evenly spaced over its
normalised range (a smaller head is padded with logits no softmax picks).

* ``e2e`` and ``conv6xl``: the original Keras project's models, as its code built them;
  ``e2e-paper`` and ``conv6xl-paper``: the same models as the paper (arXiv 1812.06349)
  describes them (3x3 last layers; the paper's E2E has ReLUs and a 64 x 257 map).
* ``fmnet``: ours. Four cheap views of the clip — a log-frequency STFT image,
  the whole clip's line spectrum on a log-frequency axis, a fine energy contour
  and a centroid track with its modulation spectrum — joined before the heads
  (see :class:`FMNet`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from inversynth.engine.spec import SynthSpec
from inversynth.errors import InversynthError


class ModelError(InversynthError):
    """A model name, shape or file does not fit the synth."""


PAD_LOGIT = -1e4  # logits of a padded bin: the softmax gives it nothing


class Heads(nn.Module):
    """Linear logits for every parameter's head, shaped [batch, n_params, max_bins] (padding masked)."""

    pad: torch.Tensor  # buffers, declared for the type checker

    def __init__(self, features: int, spec: SynthSpec) -> None:
        super().__init__()
        self.n_params, self.n_bins = len(spec.params), spec.max_bins
        self.linear = nn.Linear(features, self.n_params * self.n_bins)
        pad = torch.zeros(self.n_params, self.n_bins)
        for i, p in enumerate(spec.params):
            pad[i, p.n_bins :] = PAD_LOGIT
        self.register_buffer("pad", pad, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.n_params, self.n_bins) + self.pad


def as_stored(audio: torch.Tensor) -> torch.Tensor:
    """Round audio to float16 and back, as the datasets store it (their default dtype).

    Every model sees its input at the precision of its training clips, whatever the caller
    passes: a model trained on float16 shards learns from their rounding noise, and without
    this step it would meet a different noise floor in float32 audio (measured: the shipped
    model's top-1 on A fell from 0.95 to 0.24).
    """
    return audio.to(torch.float16).to(torch.float32)


class StftMagnitude(nn.Module):
    """|STFT| of raw audio: [batch, samples] -> [batch, bins, frames] (Hann window, centred frames)."""

    window: torch.Tensor

    def __init__(self, n_fft: int, hop: int, bins: int | None = None) -> None:
        super().__init__()
        self.n_fft, self.hop, self.bins = n_fft, hop, bins or n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return spec.abs()[:, : self.bins, :]


Layer = tuple[int, tuple[int, int], tuple[int, int]]  # filters, kernel, stride of one 2-D convolution

# The six-layer stacks as the original Keras project built them, and as the paper describes them
# (arXiv 1812.06349; ../shared/seed/SYNTH_FACTS.md): the project's last two layers are 1x1.
CONV6XL_ORIGINAL: tuple[Layer, ...] = (
    (64, (3, 3), (2, 2)), (128, (3, 3), (2, 2)), (128, (3, 4), (2, 3)),
    (128, (3, 3), (2, 2)), (256, (1, 1), (2, 2)), (256, (1, 1), (1, 2)),
)  # fmt: skip
CONV6XL_PAPER: tuple[Layer, ...] = (*CONV6XL_ORIGINAL[:4], (256, (3, 3), (2, 2)), (256, (3, 3), (1, 2)))
CONV6_ORIGINAL: tuple[Layer, ...] = (
    (32, (3, 3), (2, 2)), (71, (3, 3), (2, 2)), (128, (3, 4), (2, 3)),
    (128, (3, 3), (2, 2)), (128, (1, 1), (2, 2)), (128, (1, 1), (1, 2)),
)  # fmt: skip
CONV6_PAPER: tuple[Layer, ...] = (*CONV6_ORIGINAL[:4], (128, (3, 3), (2, 2)), (128, (3, 3), (1, 2)))


def _conv_stack(layers: tuple[Layer, ...], relu: bool) -> nn.Sequential:
    """2-D convolutions with Keras 'same' padding, each followed by a ReLU if ``relu``."""
    modules: list[nn.Module] = []
    channels = 1
    for filters, kernel, stride in layers:
        modules.append(nn.Conv2d(channels, filters, kernel, stride, (kernel[0] // 2, kernel[1] // 2)))
        if relu:
            modules.append(nn.ReLU())
        channels = filters
    return nn.Sequential(*modules)


def _dense(flat: int) -> nn.Module:
    """Flatten and FC-512 with ReLU: how every Keras-lineage model ends before its heads."""
    return nn.Sequential(nn.Flatten(), nn.Linear(flat, 512), nn.ReLU())


class Conv6XL(nn.Module):
    """CONV6XL on a dB STFT (n_fft 512, hop 256) with ReLU convolutions: the original project's layers,
    or the paper's (``CONV6XL_PAPER``)."""

    def __init__(self, spec: SynthSpec, layers: tuple[Layer, ...] = CONV6XL_ORIGINAL) -> None:
        super().__init__()
        self.stft = StftMagnitude(512, 256)
        self.convs = _conv_stack(layers, relu=True)
        frames = spec.clip_samples // 256 + 1
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, 1, 257, frames)).numel()
        self.dense = _dense(flat)
        self.heads = Heads(512, spec)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        db = 20.0 * torch.log10(self.stft(as_stored(audio)) + 1e-6)
        return self.heads(self.dense(self.convs(db.unsqueeze(1))))


class E2E(nn.Module):
    """The end-to-end model on raw audio: four strided 1-D convolutions into a [frames x 257] map, then
    Conv6's six layers.

    ``paper=False``: the original project's last version ('valid' 1-D convolutions, 61 frames for 16384
    samples, no activations anywhere). ``paper=True``: the paper's (a 64 x 257 map, so 'same' padding;
    every convolution a ReLU convolution, and Conv6's last two layers 3x3).
    """

    FRONT = ((96, 64), (96, 32), (128, 16), (257, 8))  # filters, kernel; stride 4 each

    def __init__(self, spec: SynthSpec, paper: bool = False) -> None:
        super().__init__()
        front: list[nn.Module] = []
        channels = 1
        for filters, kernel in self.FRONT:
            padding = (kernel - 4 + 1) // 2 if paper else 0  # 'same' for stride 4: ceil(n / 4) frames
            front.append(nn.Conv1d(channels, filters, kernel, 4, padding))
            if paper:
                front.append(nn.ReLU())
            channels = filters
        self.front = nn.Sequential(*front)
        self.convs = _conv_stack(CONV6_PAPER if paper else CONV6_ORIGINAL, relu=paper)
        with torch.no_grad():
            frames = self.front(torch.zeros(1, 1, spec.clip_samples)).shape[-1]
            flat = self.convs(torch.zeros(1, 1, frames, 257)).numel()
        self.dense = _dense(flat)
        self.heads = Heads(512, spec)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        maps = self.front(as_stored(audio).unsqueeze(1))  # [batch, 257, frames]
        return self.heads(self.dense(self.convs(maps.transpose(1, 2).unsqueeze(1))))


def _block(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)
    )


def _mlp(n_in: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, 256), nn.ReLU(), nn.Linear(256, n_out), nn.ReLU())


def log_band_weights(bin_hz: float, n_bins: int, low_hz: float, high_hz: float, bands: int) -> torch.Tensor:
    """[bands, n_bins] weights turning a linear spectrum (bin k at k * bin_hz) into log-spaced bands.

    Each band is a triangle around its centre, as wide as the band spacing or one bin, whichever is
    wider, so low bands interpolate between bins and high bands average several.
    """
    centres = np.geomspace(low_hz, high_hz, bands)
    spacing = np.maximum(centres * (2 ** (math.log2(high_hz / low_hz) / (bands - 1)) - 1), bin_hz)
    freqs = np.arange(n_bins) * bin_hz
    weights = np.maximum(0.0, 1.0 - np.abs(freqs[None, :] - centres[:, None]) / spacing[:, None])
    return torch.tensor(weights / weights.sum(axis=1, keepdims=True), dtype=torch.float32)


def log_band_index(bin_hz: float, n_bins: int, low_hz: float, per_octave: int) -> torch.Tensor:
    """[bands, width] bin indices of log-spaced bands (``per_octave`` per octave from ``low_hz`` to the top
    bin), each row padded with its own first index, so a max over a row is the band's peak."""
    top = (n_bins - 1) * bin_hz
    edges = low_hz * 2.0 ** (np.arange(int(per_octave * math.log2(top / low_hz)) + 2) / per_octave)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        first, last = math.floor(lo / bin_hz), min(math.ceil(hi / bin_hz), n_bins)
        rows.append(list(range(first, max(last, first + 1))))
    width = max(len(r) for r in rows)
    return torch.tensor([r + [r[0]] * (width - len(r)) for r in rows], dtype=torch.long)


class FMNet(nn.Module):
    """Ours: four views of the clip joined before the spec's heads.

    * image: log-magnitude STFT (n_fft 512, hop 128) on 128 log-spaced bands from 32 Hz to Nyquist
      -> small 2D CNN (shapes of vibrato and envelope; a pitch change is a shift of the image);
    * line spectrum: the whole clip's magnitude spectrum (1 Hz bins), peak per quarter tone from 30 Hz
      to Nyquist -> MLP (FM lines around C: pitch to a fraction of a semitone at any octave);
    * contour: log energy of 64-sample frames plus the log peak sample (amplitude and envelope, 4 ms steps);
    * modulation: the STFT's spectral-centroid track and its modulation spectrum (LFO rate).
    """

    N_FFT, HOP, IMAGE_BANDS, IMAGE_LOW_HZ = 512, 128, 128, 32.0
    LINE_LOW_HZ, LINE_PER_OCTAVE, FRAME = 30.0, 48, 64
    image_bands: torch.Tensor
    line_index: torch.Tensor
    bin_index: torch.Tensor

    def __init__(self, spec: SynthSpec, width: int = 16, blocks: int = 3) -> None:
        super().__init__()
        self.stft = StftMagnitude(self.N_FFT, self.HOP)
        stft_bins = self.N_FFT // 2  # DC dropped
        nyquist = spec.sample_rate / 2
        self.register_buffer(
            "image_bands",
            log_band_weights(
                spec.sample_rate / self.N_FFT, stft_bins + 1, self.IMAGE_LOW_HZ, nyquist, self.IMAGE_BANDS
            )[:, 1:],
            persistent=False,
        )
        frames = spec.clip_samples // self.HOP + 1
        self.norm = nn.BatchNorm2d(1)
        channels = [1] + [width * 2**i for i in range(blocks)]
        self.cnn = nn.Sequential(nn.AvgPool2d(2), *(_block(a, b) for a, b in itertools.pairwise(channels)))
        with torch.no_grad():
            flat = self.cnn(torch.zeros(1, 1, self.IMAGE_BANDS, frames)).numel()
        self.cnn_out = nn.Sequential(nn.Flatten(), nn.Linear(flat, 256), nn.ReLU())
        line_bins = spec.clip_samples // 2 + 1
        index = log_band_index(spec.sample_rate / spec.clip_samples, line_bins, self.LINE_LOW_HZ, self.LINE_PER_OCTAVE)
        self.register_buffer("line_index", index.flatten(), persistent=False)
        self.line_shape = tuple(index.shape)
        self.lines = nn.Sequential(nn.BatchNorm1d(index.shape[0]), _mlp(index.shape[0], 256))
        self.contour = _mlp(spec.clip_samples // self.FRAME + 1, 128)
        self.modulation = _mlp(frames + frames // 2 + 1, 128)
        self.register_buffer("bin_index", torch.arange(1, stft_bins + 1, dtype=torch.float32), persistent=False)
        self.trunk = nn.Sequential(nn.Linear(256 + 256 + 2 * 128, 512), nn.ReLU(), nn.Dropout(0.1))
        self.heads = Heads(512, spec)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        audio = as_stored(audio)
        magnitude = self.stft(audio)[:, 1:, :]  # [batch, bins, frames], DC dropped
        bands = torch.matmul(self.image_bands, magnitude)  # [batch, bands, frames]
        image = self.cnn_out(self.cnn(self.norm(torch.log(bands + 1e-4).unsqueeze(1))))

        spectrum = torch.fft.rfft(audio, dim=1).abs() / audio.shape[1]
        peaks = spectrum[:, self.line_index].view(audio.shape[0], *self.line_shape).amax(dim=2)
        lines = self.lines(torch.log(peaks + 1e-7))

        frames = audio[:, : audio.shape[1] // self.FRAME * self.FRAME].reshape(audio.shape[0], -1, self.FRAME)
        # clamp, not "+ eps": onnxruntime drops a 1e-10 added to a mean of squares, giving log(0) on silence
        energy = torch.log(frames.pow(2).mean(dim=2).clamp(min=1e-10)) / 10.0
        peak = torch.log(audio.abs().amax(dim=1, keepdim=True) + 1e-6) / 5.0
        contour = self.contour(torch.cat([energy, peak], dim=1))

        centroid = (magnitude * self.bin_index[:, None]).sum(dim=1) / (magnitude.sum(dim=1) + 1e-3) / magnitude.shape[1]
        wobble = centroid - centroid.mean(dim=1, keepdim=True)
        modulation = self.modulation(torch.cat([centroid, torch.fft.rfft(wobble, dim=1).abs()], dim=1))
        return self.heads(self.trunk(torch.cat([image, lines, contour, modulation], dim=1)))


MODELS: dict[str, Callable[[SynthSpec], nn.Module]] = {
    "fmnet": FMNet,
    "conv6xl": Conv6XL,
    "e2e": E2E,
    "conv6xl-paper": functools.partial(Conv6XL, layers=CONV6XL_PAPER),
    "e2e-paper": functools.partial(E2E, paper=True),
}


def build_model(name: str, spec: SynthSpec) -> nn.Module:
    try:
        model_class = MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    return model_class(spec)
