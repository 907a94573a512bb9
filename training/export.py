"""``inversynth export``: a trained run -> one ONNX file that carries its own description.

Input ``audio``: float32 [batch, clip_samples] at the spec's sample rate.
Output ``logits``: float32 [batch, n_params, max_bins] (each parameter's head
over its bins, padded). The metadata says which synth (name, version,
fingerprint), which parameters, class values and head sizes, what audio
format, which model and which training data, and (after ``inversynth
calibrate``) the softmax temperatures and verdict thresholds measured on
held-out clips; inference refuses a file whose metadata does not fit the synth
it is asked to drive.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from inversynth import __version__
from inversynth.atomic import atomic_write_bytes
from inversynth.bridge.matching.model_file import FORMAT, FORMAT_VERSION, encode, spec_keys
from inversynth.training.models import ModelError
from inversynth.training.train import load_trained, run_spec


def metadata_for(run: Path) -> dict[str, str]:
    """The key/value pairs stored in the ONNX file (``model_file`` declares them)."""
    _, config = load_trained(run)
    return encode(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **spec_keys(run_spec(config)),
            "variant": config.data_info.get("variant", {}),
            "model": config.model,
            "loss": config.loss,
            "training_data": config.data_info,
            "training_seed": config.seed,
            "epochs": config.epochs,
            "inversynth_version": __version__,
            "exported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )


def export(run: Path, output: Path) -> dict[str, str]:
    """Write ``output`` (atomically) from the best weights of ``run``; return the metadata."""
    model, config = load_trained(run)
    spec = run_spec(config)
    example = torch.zeros(2, spec.clip_samples)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with tempfile.TemporaryDirectory() as scratch:
        temporary = Path(scratch) / "model.onnx"
        onnx_log = logging.getLogger("torch.onnx")
        level = onnx_log.level
        onnx_log.setLevel(logging.ERROR)  # the exporter's notes (torchvision absent, ...) are not the user's business
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    (example,),
                    str(temporary),
                    dynamo=True,
                    input_names=["audio"],
                    output_names=["logits"],
                    dynamic_shapes={"audio": {0: batch}},
                    external_data=False,
                    verbose=False,
                )
        except Exception as exc:  # the exporter raises many types; say which model failed
            raise ModelError(f"could not export model '{config.model}' from {run}: {exc}") from None
        finally:
            onnx_log.setLevel(level)
        proto = onnx.load(str(temporary))
    metadata = metadata_for(run)
    set_metadata(proto, metadata)
    atomic_write_bytes(Path(output), proto.SerializeToString())
    return metadata


def set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> None:
    """Add or replace metadata entries of an ONNX model in memory."""
    kept = [(e.key, e.value) for e in proto.metadata_props if e.key not in values]
    del proto.metadata_props[:]
    for key, value in [*kept, *values.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def weights_from_onnx(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s weights read back from an exported file, so a shipped model can be trained further
    (``inversynth train --init MODEL.onnx``, across sessions whose run folders are gone).

    The exporter folds a batch norm that follows a convolution into it (the convolution's weight keeps
    its name, its bias becomes ``<weight>_bias``): such a norm comes back as the identity carrying that
    bias, which computes what the file does (eval mode); other norms keep their running statistics
    (inputs 3 and 4 of their BatchNormalization node). Anything else missing is refused.
    """
    proto = onnx.load(str(path))
    tensors = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "BatchNormalization":
            prefix = node.input[1].rsplit(".", 1)[0]
            tensors[f"{prefix}.running_mean"], tensors[f"{prefix}.running_var"] = (tensors[n] for n in node.input[3:5])
    modules = dict(model.named_modules())
    state = model.state_dict()
    for name, module in modules.items():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and f"{name}.weight" not in tensors:
            parent, _, index = name.rpartition(".")
            conv = f"{parent}.{int(index) - 1}" if index.isdigit() else ""
            if f"{conv}.weight_bias" not in tensors:
                raise ModelError(f"{path}: the norm '{name}' is neither in the file nor folded into a convolution")
            tensors[f"{name}.weight"] = torch.ones_like(state[f"{name}.weight"])
            tensors[f"{name}.bias"] = tensors[f"{conv}.weight_bias"]
            tensors[f"{name}.running_mean"] = torch.zeros_like(state[f"{name}.running_mean"])
            tensors[f"{name}.running_var"] = torch.full_like(state[f"{name}.running_var"], 1.0 - module.eps)
            if f"{conv}.bias" in state:
                tensors[f"{conv}.bias"] = torch.zeros_like(state[f"{conv}.bias"])  # inside the folded bias
    missing = [n for n in state if n not in tensors and not n.endswith("num_batches_tracked")]
    if missing:
        raise ModelError(f"{path} lacks weights of this model: {', '.join(missing[:4])}")
    return {n: tensors[n].to(v.dtype).reshape(v.shape) if n in tensors else v for n, v in state.items()}


def torch_logits(run: Path, audio: np.ndarray) -> np.ndarray:
    """The run's best weights applied in torch, for export parity checks."""
    model, _ = load_trained(run)
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(audio, dtype=np.float32))).numpy()
