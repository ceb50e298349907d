"""Classifier benchmark (part of `make bench`): per-stage times per case, model warm, vs a baseline.

    .venv/bin/python scripts/bench_classifier.py [--n 10] [--model models/glioma-demo] [--json F]

Writes N BraTS-size phantom cases (1 mm, 240×240×155) into a temporary folder (or uses --data),
loads the model once, warms it up, times the first case, then runs ``analyse_case`` on every case
and reports the median of each analysis stage (ingest = load + validate, lesion = slice finding,
subtype = input + predict incl. uncertainty, saliency = Grad-CAM, artefacts, total). In the same
run, a baseline does what the original project did per
request: nibabel load of the four volumes with get_fdata, a per-slice Python loop with a Gaussian
and a threshold, an skimage-style resize (anti-aliasing Gaussian + scipy zoom) of the four-slice
strip to 224×224, and ``model.predict`` on one sample of a 224×224×3 ResNet50. Both run back to
back on each case (alternating which goes first) so a shared machine's load hits both alike. Ratios
compare the two. Wall-clock medians and this process's CPU time (all threads) are both given.

In the same loop the whole analysis runs a third time with every shipped model (sequence, tumour
type + out-of-distribution, segmentation, subtype): its per-stage medians show what each stage
adds (segmentation in ``lesion``; the sequence and scope stages are the extra checks before the
subtype) and the total per case beside the baseline.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pipeline.io.naming import SEQUENCES  # noqa: E402

STAGES = ("ingest", "lesion", "subtype", "saliency", "artefacts", "total")


def make_cases(root: Path, n: int, seed: int) -> list[dict[str, Path]]:
    """Write n phantom cases (balanced classes) and return their path dicts."""
    from app.pipeline.synthetic.phantoms import generate_case, write_case

    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        cid = f"B{i:02d}"
        write_case(generate_case("AOG"[i % 3], rng), root, cid)
        cases.append({s: root / f"{cid}_{s}.nii.gz" for s in SEQUENCES})
    return cases


def baseline_case(paths: dict[str, Path], model) -> dict[str, float]:
    """Time one request the way the original project served it; return stage -> seconds."""
    import nibabel as nib
    from scipy import ndimage

    t0 = time.perf_counter()
    vols = {s: nib.load(paths[s]).get_fdata() for s in SEQUENCES}
    t1 = time.perf_counter()
    flair = vols["flair"]
    areas = []
    for z in range(flair.shape[2]):  # per-slice loop, as in the notebook
        smooth = ndimage.gaussian_filter(flair[:, :, z], 1)
        area = int((smooth > 450).sum())
        if area == 0:
            area = int((smooth > 250).sum())
        areas.append(area)
    idx = int(np.argmax(areas))
    t2 = time.perf_counter()
    strip = np.hstack([vols[s][:, :, idx] for s in SEQUENCES]).astype(np.float64)
    strip = strip / max(float(strip.max()), 1.0)
    factors = (224 / strip.shape[0], 224 / strip.shape[1])
    sigma = [max(0.0, (1 / f - 1) / 2) for f in factors]  # skimage's anti-aliasing default
    strip = ndimage.zoom(ndimage.gaussian_filter(strip, sigma), factors, order=1)
    x = np.repeat(strip[None, :, :, None], 3, axis=-1).astype(np.float32)
    t3 = time.perf_counter()
    model.predict(x, verbose=0)
    t4 = time.perf_counter()
    return {"load": t1 - t0, "slice": t2 - t1, "input": t3 - t2, "predict": t4 - t3,
            "total": t4 - t0}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a Markdown table; return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--model", type=Path, default=REPO / "models" / "glioma-demo")
    p.add_argument("--data", type=Path, help="reuse phantom cases written earlier here")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", type=Path, help="also write the raw numbers as JSON")
    args = p.parse_args(argv)

    from app.pipeline.models import tf_runtime

    tf_runtime.configure()
    from app.pipeline.analysis.runner import analyse_case
    from app.pipeline.models.registry import ModelSet, discover_models, load_models
    from app.pipeline.models.subtype import Classifier, build_model

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = args.data or scratch / "cases"
        data.mkdir(parents=True, exist_ok=True)
        cases = make_cases(data, args.n, args.seed)

        t0 = time.perf_counter()
        classifier = Classifier.load(args.model)
        t_load = time.perf_counter() - t0
        classifier.warm_up()
        t_warm = time.perf_counter() - t0 - t_load
        models = ModelSet({"subtype": classifier})
        first = analyse_case(cases[0], scratch / "first", models)["timings"]["total"]
        full_models = load_models(discover_models())
        analyse_case(cases[0], scratch / "first-full", full_models)  # every model traced once
        full: dict[str, list[float]] = {}

        baseline_model = build_model("seed-strip", 224, 0.3)
        b0 = time.perf_counter()
        first_base = baseline_case(cases[0], baseline_model)["total"]  # includes predict's tracing
        base_first_s = time.perf_counter() - b0

        # Ours and the baseline run back to back on each case, alternating which goes first, so
        # that both see the same load on a shared machine.
        ours: dict[str, list[float]] = {k: [] for k in STAGES}
        base: dict[str, list[float]] = {k: [] for k in ("load", "slice", "input", "predict",
                                                          "total")}
        cpu: list[float] = []
        base_cpu: list[float] = []

        def run_ours(i: int, paths: dict[str, Path]) -> None:
            c0 = time.process_time()
            timings = analyse_case(paths, scratch / f"r{i}", models)["timings"]
            cpu.append(time.process_time() - c0)
            for k in STAGES:
                ours[k].append(timings[k])
            for k, v in analyse_case(paths, scratch / f"f{i}", full_models)["timings"].items():
                full.setdefault(k, []).append(v)

        def run_base(paths: dict[str, Path]) -> None:
            c0 = time.process_time()
            for k, v in baseline_case(paths, baseline_model).items():
                base[k].append(v)
            base_cpu.append(time.process_time() - c0)

        for i, paths in enumerate(cases):
            if i % 2 == 0:
                run_ours(i, paths)
                run_base(paths)
            else:
                run_base(paths)
                run_ours(i, paths)

    med = {k: statistics.median(v) for k, v in ours.items()}
    bmed = {k: statistics.median(v) for k, v in base.items()}
    class_path = [o["ingest"] + o["lesion"] + o["subtype"]
                  for o in ({k: ours[k][i] for k in STAGES} for i in range(args.n))]
    class_med = statistics.median(class_path)
    paired = statistics.median(b / o for b, o in zip(base["total"], class_path, strict=True))
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {tf_runtime.describe_device()}",
        "cases": args.n,
        "model": str(args.model),
        "image_size": classifier.card.image_size,
        "slices_per_prediction": classifier.card.n_slices,
        "model_load_s": t_load,
        "warm_up_s": t_warm,
        "first_case_total_s": first,
        "ours_median_s": med,
        "ours_cpu_median_s": statistics.median(cpu),
        "classification_path_median_s": class_med,
        "baseline_median_s": bmed,
        "baseline_cpu_median_s": statistics.median(base_cpu),
        "baseline_first_call_s": first_base,
        "baseline_first_call_wall_s": base_first_s,
        "speedup_classification_path": bmed["total"] / class_med,
        "speedup_classification_path_paired_median": paired,
    }
    rows = [
        ("ingest: load + validate", med["ingest"], bmed["load"]),
        ("lesion: slice", med["lesion"], bmed["slice"]),
        ("subtype: input + predict (ours: 2k+1 slices, uncertainty)", med["subtype"],
         bmed["input"] + bmed["predict"]),
        ("classification path (sum of the above)", class_med, bmed["total"]),
        ("saliency: Grad-CAM (all slices used) + mapping back", med["saliency"], None),
        ("artefacts (2 PNG, 2 NIfTI, JSON)", med["artefacts"], None),
        ("total per case", med["total"], bmed["total"]),
    ]
    print(f"| stage (median of {args.n} cases, model warm) | ours s | baseline s | ratio |")
    print("|---|---:|---:|---:|")
    for name, a, b in rows:
        ratio = f"{b / a:.2f}×" if b else ""
        print(f"| {name} | {a:.3f} | {'' if b is None else f'{b:.3f}'} | {ratio} |")
    print(f"\nfirst case after load ({t_load:.2f} s) + warm_up ({t_warm:.2f} s): "
          f"{first:.3f} s total")
    print(f"baseline first call (incl. tracing model.predict): {first_base:.3f} s")
    print(f"CPU time per case (process, all threads): ours {report['ours_cpu_median_s']:.3f} s, "
          f"baseline {report['baseline_cpu_median_s']:.3f} s")
    print(f"classification path speed-up vs baseline: {report['speedup_classification_path']:.2f}× "
          f"(median of per-case ratios, run back to back: {paired:.2f}×)")
    full_med = {k: statistics.median(v) for k, v in full.items()}
    extra = statistics.median(
        full.get("sequence", [0.0] * args.n)[i] + full.get("scope", [0.0] * args.n)[i]
        for i in range(args.n))
    report["full_analysis_models"] = sorted(full_models)
    report["full_analysis_median_s"] = full_med
    report["full_analysis_checks_before_subtype_median_s"] = extra
    print(f"\n| whole analysis, every shipped model ({', '.join(sorted(full_models))}): stage "
          f"(median of {args.n} cases) | s |")
    print("|---|---:|")
    for k, v in full_med.items():
        print(f"| {k} | {v:.3f} |")
    print(f"\nsequence + scope (the checks before the subtype): {extra:.3f} s per case; "
          f"segmentation (lesion stage): {full_med.get('lesion', 0):.3f} s; whole analysis "
          f"{full_med['total']:.3f} s against the baseline's {bmed['total']:.3f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
