"""Training a model to memorize a dataset (docs/trained.md#trained): AdamW, linear warm-up, full batch or minibatch,
cross-entropy or MSE, optional gradient clipping, stop as soon as the training error is below the threshold.

Invariant: the same TrainConfig, model config, data and seed give the same weights bit for bit, whether the
run is uninterrupted or resumed from a checkpoint (model, optimizer and sampler state are all saved). The
trainer prints nothing: progress goes to callbacks, so the CLI adds a progress bar and tests add nothing.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from .. import outputs
from ..nn.model import CONFIGS, build, trainable_params
from .tasks import ModelConfig, Task


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 1e-2
    warmup: int = 50  # epochs of linear warm-up from lr/warmup to lr
    schedule: str = "cosine"  # after warm-up: "cosine" decay to 0 at `epochs`, or "constant"
    epochs: int = 1000
    batch_size: int | None = None  # None: full batch
    weight_decay: float = 0.0
    clip: float | None = None  # clip the gradient's global norm to this before each update
    threshold: float = 0.01  # memorized when the training error is below this
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when present, else CPU


@dataclass(frozen=True)
class TrainResult:
    memorized: bool
    error: float  # training error of the final weights
    loss: float
    epochs: int  # epochs run (the weights after this many updates)
    seconds: float
    params: int
    device: str


class Callback(Protocol):
    # positional-only: `train` calls cb(epoch, loss, error), so any function of three such arguments fits
    def __call__(self, epoch: int, loss: float, error: float, /) -> None: ...


@dataclass
class Checkpoint:
    """Where and how often to save; a run given an existing checkpoint of the same configuration resumes."""

    directory: Path
    every: int = 100


def pick_device(name: str) -> torch.device:
    """'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'; a device this torch cannot use is a ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device=\"{name}\": not a device name (auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device=\"{name}\": this torch ({torch.__version__}) sees no CUDA GPU; use device=\"cpu\" or device=\"auto\"")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device=\"{name}\": only {torch.cuda.device_count()} CUDA device(s) here")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device=\"{name}\": memcap trains on cpu or cuda")
    return dev


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Linear warm-up to cfg.lr, then cosine decay towards 0 at cfg.epochs: the late small steps are what
    take full-batch training from a few per cent error to exact memorization."""
    if epoch < cfg.warmup:
        return cfg.lr * (epoch + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(cfg.epochs - cfg.warmup, 1)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(epoch - cfg.warmup, span) / span))


def _loss_and_misses(task: Task, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
    if task.loss == "mse":
        out = out.squeeze(-1)
        return nn.functional.mse_loss(out, y), int((torch.sign(out) != y).sum())
    logits = out.reshape(-1, out.shape[-1])
    target = y.reshape(-1)
    return nn.functional.cross_entropy(logits, target), int((logits.argmax(-1) != target).sum())


def is_memorized(misses: int, task: Task, threshold: float = 0.01) -> bool:
    # compared on counts: 6 misses in 600 is an error of exactly 0.01, which is not below 0.01
    return misses < threshold * task.y.numel()


def evaluate(net: nn.Module, task: Task, device: torch.device | None = None) -> tuple[float, float]:
    """(loss, error) of `net` on the whole task."""
    device = device or next(net.parameters()).device
    with torch.no_grad():
        loss, misses = _loss_and_misses(task, net(task.x.to(device), read=task.read), task.y.to(device))
    return float(loss), misses / task.y.numel()


def _state_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "state.safetensors", directory / "state.json"


def _save(ck: Checkpoint, net: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, epoch: int, key: str) -> None:
    ck.directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    osd = opt.state_dict()
    for i, st in osd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = v.detach().cpu().contiguous().reshape(v.shape)
    tensors["rng"] = gen.get_state()
    tpath, jpath = _state_paths(ck.directory)
    ttmp, jtmp = tpath.with_name(tpath.name + ".tmp"), jpath.with_name(jpath.name + ".tmp")
    ttmp.write_bytes(safetensors_bytes(tensors))  # written here, not by save_file: its files ignore the umask (0600)
    jtmp.write_text(json.dumps({"key": key, "epoch": epoch, "param_groups": osd["param_groups"]}))
    # the JSON (which names the epoch) is replaced last: a kill between the two renames leaves new tensors
    # with an old epoch, which the key check cannot see, so both are written before either is renamed
    ttmp.replace(tpath)
    jtmp.replace(jpath)


def _load(ck: Checkpoint, net: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, key: str) -> int:
    tpath, jpath = _state_paths(ck.directory)
    if not (tpath.exists() and jpath.exists()):
        return 0
    saved = json.loads(jpath.read_text())
    if saved["key"] != key:
        raise ValueError(f"checkpoint {ck.directory} is of another run ({_differences(saved['key'], key)}); "
                         "give a fresh directory, or the same settings to resume")
    tensors = load_file(str(tpath))
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    gen.set_state(tensors["rng"])
    return int(saved["epoch"])


def _differences(old: str, new: str) -> str:
    """'epochs: checkpoint 1000, this run 500; ...' for two run keys."""
    def flat(d, pre=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{pre}{k}.") if isinstance(v, dict) else {f"{pre}{k}": v})
        return out

    a, b = flat(json.loads(old)), flat(json.loads(new))
    diff = [f"{k.removeprefix('train.')}: checkpoint {a.get(k)}, this run {b.get(k)}"
            for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
    return "; ".join(diff) or "same settings, other data"


def save_trained(net: nn.Module, model_cfg, directory: Path, overwrite: bool = False,
                 extra: dict[str, bytes] | None = None) -> Path:
    """A trained model as `model.safetensors` + `config.json` (the config dataclass's fields and its kind),
    plus the `extra` files (name -> bytes), built beside `directory` and moved into place. An existing
    `directory` is refused (`OutputExists`) unless `overwrite` is set and it holds a trained model."""
    weights = safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
    with outputs.writing_folder(directory, "trained", overwrite) as tmp:
        (tmp / "model.safetensors").write_bytes(weights)
        (tmp / "config.json").write_text(json.dumps({"kind": type(model_cfg).__name__, **asdict(model_cfg)}, sort_keys=True, indent=1) + "\n")
        for name, data in (extra or {}).items():
            (tmp / name).write_bytes(data)
    return Path(directory)


def load_trained(directory: str | Path) -> nn.Module:
    """The model `save_trained` wrote, in eval mode: config.json names its config class and fields,
    model.safetensors holds every weight (loaded strictly: a missing or extra tensor is an error)."""
    directory = Path(directory)
    cfg_path, weights = directory / "config.json", directory / "model.safetensors"
    if not (cfg_path.is_file() and weights.is_file()):
        raise FileNotFoundError(f"{directory}: a trained model folder holds config.json and model.safetensors")
    fields = json.loads(cfg_path.read_text())
    kind = fields.pop("kind", None)
    if kind not in CONFIGS:
        raise ValueError(f"{cfg_path}: unknown model kind {kind!r}; expected one of {', '.join(CONFIGS)}")
    net = build(CONFIGS[kind](**fields))
    net.load_state_dict(load_file(str(weights)), strict=True)
    return net.eval()


def run_key(model_cfg: ModelConfig, cfg: TrainConfig, task: Task) -> str:
    return json.dumps({"model": type(model_cfg).__name__, **asdict(model_cfg), "train": asdict(cfg), "task": task.fingerprint},
                      sort_keys=True, default=str)


def train(model_cfg: ModelConfig, task: Task, cfg: TrainConfig = TrainConfig(),
          callbacks: tuple[Callback, ...] = (), checkpoint: Checkpoint | None = None) -> tuple[nn.Module, TrainResult]:
    """Train a fresh model of `model_cfg` on `task` until its training error < cfg.threshold or cfg.epochs
    updates; returns the model and what happened. With `checkpoint`, state is saved every `every` epochs
    and an existing checkpoint of the same run is resumed."""
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    net = build(model_cfg).to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=_lr_at(cfg, 0), weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    key = run_key(model_cfg, cfg, task)
    start = _load(checkpoint, net, opt, gen, key) if checkpoint else 0
    x, y = task.x.to(device), task.y.to(device)
    N = x.shape[0]
    full = cfg.batch_size is None or cfg.batch_size >= N
    t0 = time.perf_counter()
    epoch = start
    while True:
        # the error of the current weights is known before the update: stop on it, so the weights returned
        # are exactly the ones that scored it (full batch: this forward pass is also the step's)
        with torch.set_grad_enabled(full):
            loss, misses = _loss_and_misses(task, net(x, read=task.read), y)
        loss_v, err_v = float(loss.detach()), misses / y.numel()
        memorized = is_memorized(misses, task, cfg.threshold)
        if memorized or epoch >= cfg.epochs:
            break
        batches = [None] if full else torch.randperm(N, generator=gen).split(cfg.batch_size)
        for g in opt.param_groups:
            g["lr"] = _lr_at(cfg, epoch)
        for idx in batches:
            if idx is not None:
                loss, _ = _loss_and_misses(task, net(x[idx.to(device)], read=task.read), y[idx.to(device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip is not None:
                nn.utils.clip_grad_norm_(params, cfg.clip)
            opt.step()
        for cb in callbacks:
            cb(epoch, loss_v, err_v)
        epoch += 1
        if checkpoint and epoch % checkpoint.every == 0:
            _save(checkpoint, net, opt, gen, epoch, key)
    if checkpoint:
        _save(checkpoint, net, opt, gen, epoch, key)
    result = TrainResult(memorized=memorized, error=err_v, loss=loss_v, epochs=epoch,
                         seconds=round(time.perf_counter() - t0, 3), params=trainable_params(net), device=str(device))
    return net.eval(), result
