#!/usr/bin/env python3
"""How much of a detector's per-landmark bias on ISBI 2015 is the annotators' own.

    python3 scripts/annotator-bias.py TRAIN.csv TEST.csv [--data DIR] [--template-id 125]

TRAIN.csv and TEST.csv are predictions CSVs (`cc2d detect --split train -o TRAIN.csv`,
`cc2d detect -o TEST.csv`). Prints, as a Markdown table, each landmark's signed mean
difference (mm; dx, dy; + = right / down) between the senior and the junior doctor, and
between the detector and the mean / junior / senior, on the training images (the template
left out), Test1 and Test2; then the two doctors' disagreement (MRE between them) per set,
and what the training labels' per-landmark offsets (an oracle) do on Test1+2. Reads the
labels in place; writes nothing.
"""
import argparse
import csv
import math
import os

SPACING = 0.1
NAMES = ["sella", "nasion", "orbitale", "porion", "subspinale", "supramentale", "pogonion", "menton",
         "gnathion", "gonion", "lower incisal incision", "upper incisal incision", "upper lip", "lower lip",
         "subnasale", "soft tissue pogonion", "posterior nasal spine", "anterior nasal spine", "articulare"]


def norm_id(s):
    s = os.path.basename(s.strip()).split(".")[0]
    return s.zfill(3) if s.isdigit() else s


def read_predictions(path):
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            try:
                v = [float(x) for x in row[1:]]
            except ValueError:
                continue  # header
            out[norm_id(row[0])] = [(v[i], v[i + 1]) for i in range(0, len(v), 2)]
    return out


def read_doctor(root, who, ids):
    out = {}
    for i in ids:
        with open(os.path.join(root, "AnnotationsByMD", who, f"{i}.txt")) as f:
            lines = [l for l in (l.strip() for l in f) if l][:19]
        out[i] = [tuple(float(c) for c in l.split(",")[:2]) for l in lines]
    return out


def offset(a, b, ids, k):
    """Mean of a − b for landmark k over ids, mm."""
    dx = sum(a[i][k][0] - b[i][k][0] for i in ids) / len(ids) * SPACING
    dy = sum(a[i][k][1] - b[i][k][1] for i in ids) / len(ids) * SPACING
    return dx, dy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--data", default=os.path.join(os.environ.get("CC2D_DATA", "../shared/data"), "isbi2015"))
    ap.add_argument("--template-id", default="125")
    a = ap.parse_args()

    def split(name):
        with open(os.path.join(a.data, f"{name}.txt")) as f:
            return [norm_id(l) for l in f if l.strip()]

    sets = {"train": [i for i in split("train") if i != norm_id(a.template_id)], "Test1": split("test1"), "Test2": split("test2")}
    everyone = [i for ids in sets.values() for i in ids]
    senior, junior = read_doctor(a.data, "400_senior", everyone), read_doctor(a.data, "400_junior", everyone)
    mean = {i: [((s[0] + j[0]) / 2, (s[1] + j[1]) / 2) for s, j in zip(senior[i], junior[i])] for i in everyone}
    det = {**read_predictions(a.train), **read_predictions(a.test)}
    missing = [i for i in everyone if i not in det]
    if missing:
        raise SystemExit(f"no prediction for {len(missing)} images, e.g. {missing[:5]}")

    pairs = [("senior − junior", senior, junior), ("detector − mean", det, mean), ("detector − junior", det, junior), ("detector − senior", det, senior)]
    head = [f"{name}: {s}" if n == 0 else s for name, _, _ in pairs for n, s in enumerate(sets)]
    print("| landmark | " + " | ".join(head) + " |")
    print("|---" * (1 + len(head)) + "|")
    for k, name in enumerate(NAMES):
        cells = [offset(x, y, ids, k) for _, x, y in pairs for ids in sets.values()]
        print(f"| {k + 1} {name} | " + " | ".join(f"{dx:+.2f}, {dy:+.2f}" for dx, dy in cells) + " |")

    print()
    for s, ids in sets.items():
        d = [math.dist(senior[i][k], junior[i][k]) * SPACING for i in ids for k in range(19)]
        print(f"senior vs junior, {s}: MRE {sum(d) / len(d):.2f} mm")

    # The oracle: the training labels' per-landmark offsets subtracted on Test1+2.
    test = sets["Test1"] + sets["Test2"]
    corr = [offset(det, mean, sets["train"], k) for k in range(19)]
    fixed = {i: [(p[0] - c[0] / SPACING, p[1] - c[1] / SPACING) for p, c in zip(det[i], corr)] for i in test}
    for label, pred in (("as detected", det), ("minus the training labels' offsets", fixed)):
        e = [math.dist(pred[i][k], mean[i][k]) * SPACING for i in test for k in range(19)]
        bias = [math.hypot(*offset(pred, mean, test, k)) for k in range(19)]
        over = ", ".join(f"{NAMES[k]} {b:.2f}" for k, b in enumerate(bias) if b > 1.5)
        print(f"Test1+2 {label}: MRE {sum(e) / len(e):.3f} mm, SDR@2 {100 * sum(v <= 2 for v in e) / len(e):.2f} %, |bias| > 1.5 mm: {over or 'none'}")


if __name__ == "__main__":
    main()
