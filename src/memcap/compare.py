"""Built beside trained on one dataset, three ways: the construction's model, verified exactly on every
example; the smallest model of the paper's architecture that training memorizes it with (a capacity
sweep with one point); and the estimate from trained capacity by code length (label bits / measured bits
per parameter). Parameters follow each side's convention: the built model counts every matrix entry
(docs/construction.md#the-transformer) and its exact bits; the trained model counts trainable float32 parameters, 32 bits each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from .data import Dataset, save
from .pipeline import build
from .train import sweep, tasks
from .train.experiment import Experiment
from .train.storage import open_storage
from .train.workers import finished_trials
from .vocab import Setting


def measured_bits_per_param(capacity_csv: Path | None) -> tuple[float, str]:
    """The best code-length bits/param in a `repro capacity` table (capacity_models.csv), or Morris et al.'s
    3.6 when there is none, with a label that says which."""
    if capacity_csv is not None and Path(capacity_csv).is_file():
        from .reports.tables import read_csv

        rows = [r for r in read_csv(capacity_csv) if r.get("bits_per_param")]
        if rows:
            best = max(rows, key=lambda r: float(r["bits_per_param"]))
            return float(best["bits_per_param"]), (f"measured by repro capacity: {best['arch']} {best['depth']}x{best['width']}, "
                                                   f"{best['params']} params, {capacity_csv}")
    return 3.6, "Morris et al. 2025's anchor; run memcap repro capacity to measure it here"


def compare(ds: Dataset, name: str, storage: str, workers: int = 2, m: int = 4, n_trials: int = 4, epochs: int = 1000,
            max_blocks: int = 32, seed: int = 0, progress: Callable[[str], None] = lambda _: None,
            capacity_csv: Path | None = None) -> list[dict]:
    """Rows: the built model, the smallest trained one, the capacity estimate H(labels) / bits-per-param, the floor."""
    if ds.setting != Setting.next_token:
        raise ValueError("compare trains next-token datasets (one label per sequence); this one is seq2seq")
    t0 = time.perf_counter()
    b = build(ds, seed=seed, check_float=False)
    res, st = b.verification, b.stats
    assert res is not None, "build verifies unless told not to"
    built = {"model": "built (construction)", "params": st.params, "nonzero": st.nonzero_params, "max_bits": st.max_bits,
             "total_bits": st.total_bits, "memorized": f"{res.positions - res.wrong}/{res.positions} exact",
             "seconds": round(time.perf_counter() - t0, 2)}
    progress(f"built: {st.params} parameters, verified {res.positions - res.wrong}/{res.positions}")

    # workers load the dataset from a path recorded in the experiment: a copy beside an SQLite storage, or
    # under out/trained/ for a database URL (workers on other machines need that path mounted)
    task = tasks.from_dataset(ds, name)
    folder = Path(storage).parent if "://" not in storage else Path("out/trained")
    copy = folder / f"compare-{task.fingerprint}.npz"
    copy.parent.mkdir(parents=True, exist_ok=True)
    if not copy.exists():
        save(ds, copy)
    exp = Experiment(name=f"compare-{task.fingerprint}-m{m}", spec=dict(kind="file", path=str(copy.resolve()), fingerprint=task.fingerprint,
                                                                          arch="paper", m=m, q=8), axis="N", points=(ds.N,), size="blocks",
                     candidates=tuple(range(1, max_blocks + 1)), n_trials=n_trials, epochs=epochs, seed=seed)
    t1 = time.perf_counter()
    st_ = open_storage(storage)
    sweep.BOUNDARY_SEARCH.publish(st_, exp)
    progress(f"training the paper's architecture (m={m}) with {workers} worker(s); trials are counted as they finish")
    sweep.BOUNDARY_SEARCH.run_local(storage, exp.name, workers, on_poll=_changes(lambda k: progress(f"trained: {k} trial(s) finished")))
    progress(f"trained: {finished_trials(st_, exp.name)} trial(s) finished in all")
    trained = _trained_row(sweep.answers(st_, exp)[0], sweep.best_trial(st_, exp, ds.N), m, max_blocks)
    trained["seconds"] = round(time.perf_counter() - t1, 2)
    bpp, source = measured_bits_per_param(capacity_csv)
    estimate = {"model": f"capacity estimate: N log2 C / {bpp:g} bits per param ({source})", "params": math.ceil(task.bits / bpp),
                "nonzero": "-", "max_bits": 32, "total_bits": 32 * math.ceil(task.bits / bpp), "memorized": "estimate (code length)",
                "seconds": "-"}
    floor = {"model": "information floor N log2 C", "params": "-", "nonzero": "-", "max_bits": "-",
             "total_bits": round(task.bits, 1), "memorized": "-", "seconds": "-"}
    return [built, trained, estimate, floor]


def _changes(report: Callable[[int], None]) -> Callable[[int], None]:
    """`report`, called only when the count differs from the last one reported."""
    last = [-1]

    def poll(k: int) -> None:
        if k != last[0]:
            last[0] = k
            report(k)

    return poll


def _trained_row(row: dict, best: dict | None, m: int, max_blocks: int) -> dict:
    """The smallest trained model that memorized; where none did, the closest trial (its error, blocks
    and parameters) so the row says how far training came."""
    if row["answer"]:
        return {"model": f"trained (paper arch, m={m}, {row['answer']} blocks)", "params": row["params"], "nonzero": "-",
                "max_bits": 32, "total_bits": 32 * row["params"], "memorized": f"error {row['error']:.4f}"}
    closest = (f"no; best error {best['error']:.4f} ({best['blocks']} blocks, {best['params']} params)" if best
               else "no trial finished")
    params = best["params"] if best and best["params"] else "-"
    return {"model": f"trained: none <= {max_blocks} blocks", "params": params, "nonzero": "-", "max_bits": 32,
            "total_bits": 32 * params if params != "-" else "-", "memorized": closest}
