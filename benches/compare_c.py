#!/usr/bin/env python3
"""Side-by-side timing of nanoBragg (C, built from ../shared/reference) and nanobragg.

    python3 benches/compare_c.py [--runs N] [--threads T] [--only NAME ...]

Builds both programs, then for each case alternates C and nanobragg (same command line, same
thread count, N runs each, default 5) in fresh scratch directories, and prints per case the
median wall time of each, the ratio C/nanobragg, the peak resident memory of each, and the
correlation of the two float images. Run it on an otherwise idle machine.

    python3 benches/compare_c.py --scaling [--runs N] [--threads T] [--only NAME ...]

    python3 benches/compare_c.py --baseline OLD_BINARY [--runs N] [--only NAME ...]

adds an earlier nanobragg build to each round (C, nanobragg, earlier build, in turn) and prints
beside the C comparison the earlier build's median time, the median and range of the ratios
new/earlier of each round's pair (below 1: faster now), and whether the two float images have
the same bytes.

    python3 benches/compare_c.py --scaling [--runs N] [--threads T] [--only NAME ...]

measures nanobragg's thread scaling instead (default: the heavy case): it alternates runs on one
thread and on T threads (N each, fresh scratch directories), and prints the median wall times,
their ratio, and the median and range of the ratios of each alternating pair. Each round also
starts T one-thread runs at once: T times the one-thread time over the time they take together
is the most T cores of this machine give this work (the "ceiling"), against which the ratio is
read.
"""
import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
REF_DIR = os.path.join(ROOT, "target", "reference")
C_BIN = os.path.join(REF_DIR, "nanoBragg")
R_BIN = os.path.join(ROOT, "target", "release", "nanobragg")
CMP_BIN = os.path.join(ROOT, "target", "release", "examples", "compare_images")

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
# (name, program, arguments): program is nanoBragg or one of the suite's C programs, run by
# nanobragg as the subcommand of the same name in lower case.
CASES = [
    ("seed-4096", "nanoBragg", SEED + " -detpixels 4096"),
    ("seed-4096-nonoise-nopgm", "nanoBragg", SEED + " -detpixels 4096 -nonoise -nopgm"),
    ("seed-2048", "nanoBragg", SEED + " -detpixels 2048"),
    ("seed-1024", "nanoBragg", SEED + " -detpixels 1024"),
    ("heavy", "nanoBragg", "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -N 10 -distance 100 "
     "-detpixels 2048 -oversample 2 -mosaic 0.5 -mosaic_domains 10 -phi 0.05 -osc 0.1 -phisteps 4"),
    ("div-disp", "nanoBragg", "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -N 10 -distance 100 "
     "-detpixels 1024 -divergence 0.2 -divsteps 3 -dispersion 0.1 -dispsteps 3"),
    ("interpolate", "nanoBragg", "-hkl P1.hkl -interpolate -cell 50 50 50 90 90 90 -lambda 1 -N 10 "
     "-distance 200 -detpixels 2048 -pixel 0.05"),
    ("noisify-1024", "noisify", "-floatfile spots1024.bin -detpixels 1024"),
    ("noisify-psf-1024", "noisify", "-floatfile spots1024.bin -detpixels 1024 -psf gauss -psf_fwhm 100"),
    ("nonBragg-1024", "nonBragg", "-stol water.stol -detpixels 1024 -distance 100 -flux 1e12"),
    ("nearBragg-1024", "nearBragg", "-file atoms_cube.txt -detpixels 1024"),
]
# Options that quieten each program and fix its seed (nearBragg has no randomness).
SEED1 = ["-seed", "1"]
C_EXTRA = {"nanoBragg": ["-noprogress"] + SEED1, "noisify": SEED1, "nonBragg": ["-noprogress"] + SEED1,
           "nearBragg": ["-noprogress"]}
R_EXTRA = {"nanoBragg": ["-quiet"] + SEED1, "noisify": SEED1, "nonBragg": ["-noprogress"] + SEED1,
           "nearBragg": ["-noprogress"]}
# The float image each program writes by default (noisify writes none).
FLOAT_OUT = {"nanoBragg": "floatimage.bin", "nonBragg": "floatimage.bin",
             "nearBragg": "floatimage.bin", "noisify": None}


def write_inputs(scratch):
    """The input files the cases name, in `scratch`: {file name: path}."""
    inputs = {"P1.hkl": os.path.join(scratch, "P1.hkl")}
    write_hkl(inputs["P1.hkl"])
    for name, src in [("water.stol", os.path.join(SHARED, "reference", "nanoBragg", "water.stol")),
                      ("atoms_cube.txt", os.path.join(SHARED, "golden_suite", "inputs", "atoms_cube.txt"))]:
        inputs[name] = os.path.join(scratch, name)
        shutil.copy(src, inputs[name])
    # noisify's input: a 1024² spot image with water background from nanobragg itself.
    inputs["spots1024.bin"] = os.path.join(scratch, "spots1024.bin")
    subprocess.run([R_BIN] + SEED.split() + ["-detpixels", "1024", "-misset", "5", "6", "7", "-water", "0.04",
                    "-floatfile", inputs["spots1024.bin"], "-nonoise", "-nopgm", "-quiet"],
                   cwd=scratch, check=True, stdout=subprocess.DEVNULL)
    return inputs


def write_hkl(path):
    """Every |h|,|k|,|l| <= 20 with a deterministic F (no randomness: a fixed formula)."""
    with open(path, "w") as f:
        for h in range(-20, 21):
            for k in range(-20, 21):
                for l in range(-20, 21):
                    s2 = (h * h + k * k + l * l) / 2500.0
                    wobble = ((h * 7919 + k * 104729 + l * 1299709) % 1000) / 1000.0
                    f.write(f"{h} {k} {l} {100.0 * 2.718281828 ** (-2 * s2) * (0.2 + wobble):.4f}\n")


def build(with_c=True):
    if with_c:
        subprocess.run(["bash", os.path.join(SHARED, "reference", "build.sh"), REF_DIR], check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["cargo", "build", "--release", "--bin", "nanobragg", "--example", "compare_images"],
                   cwd=ROOT, check=True)


def command(binary, program):
    """The argument list that starts `program` with `binary`: C_BIN stands for the C program of
    that name, any other binary is a nanobragg build (the suite's programs as subcommands)."""
    if binary == C_BIN:
        c = C_BIN if program == "nanoBragg" else os.path.join(REF_DIR, program)
        return [c], C_EXTRA[program]
    sub = [] if program == "nanoBragg" else [program.lower()]
    return [binary] + sub, R_EXTRA[program]


def start(binary, program, args, threads, workdir, inputs):
    """Start one run in a fresh directory: (process, start time)."""
    if os.path.isdir(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    for token in args.split():
        if token in inputs:
            shutil.copy(inputs[token], os.path.join(workdir, token))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads))
    head, extra = command(binary, program)
    begin = time.perf_counter()
    proc = subprocess.Popen(head + args.split() + extra, cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, begin


def finish(started, binary, args):
    """Wait for a started run: (wall seconds, peak RSS in MiB)."""
    proc, begin = started
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - begin
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{binary} {args}: exit {proc.returncode}: {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024.0


def run(binary, program, args, threads, workdir, inputs):
    """One run in a fresh directory: (wall seconds, peak RSS in MiB, float image path or None)."""
    wall, rss = finish(start(binary, program, args, threads, workdir, inputs), binary, args)
    out = FLOAT_OUT[program]
    return wall, rss, out and os.path.join(workdir, out)


def scaling(opts, scratch, inputs):
    """nanobragg on one thread against `opts.threads`, alternating, per case; beside them, as
    many one-thread runs at once as threads, which gives the machine's own ceiling."""
    n = opts.threads
    print(f"scaling: 1 against {n} threads, runs={opts.runs}; ceiling: {n} one-thread runs at once")
    print(f"{'case':26} {'1 thread s':>11} {f'{n} threads s':>12} {'ratio':>7} "
          f"{'pair median':>12} {'pair range':>12} {'ceiling':>8} {'ceil. range':>12}")
    span = lambda xs: f"{min(xs):.2f}-{max(xs):.2f}"
    for name, program, args in CASES:
        if name not in (opts.only or ["heavy"]):
            continue
        one, many, ceiling = [], [], []
        for _ in range(opts.runs):
            one.append(run(R_BIN, program, args, 1, os.path.join(scratch, "one"), inputs)[0])
            many.append(run(R_BIN, program, args, n, os.path.join(scratch, "many"), inputs)[0])
            started = [start(R_BIN, program, args, 1, os.path.join(scratch, f"at-once-{i}"), inputs)
                       for i in range(n)]
            together = max(finish(s, R_BIN, args)[0] for s in started)
            ceiling.append(n * one[-1] / together)
        pairs = [a / b for a, b in zip(one, many)]
        t1, tn = statistics.median(one), statistics.median(many)
        print(f"{name:26} {t1:11.3f} {tn:12.3f} {t1 / tn:7.2f} {statistics.median(pairs):12.2f} "
              f"{span(pairs):>12} {statistics.median(ceiling):8.2f} {span(ceiling):>12}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--baseline", metavar="OLD_BINARY",
                    help="an earlier nanobragg build timed in the same rounds")
    ap.add_argument("--scaling", action="store_true",
                    help="time nanobragg on 1 thread against --threads (default case: heavy)")
    opts = ap.parse_args()
    if not opts.no_build:
        build(with_c=not opts.scaling)
    scratch = tempfile.mkdtemp(prefix="nanobragg-compare-")
    inputs = write_inputs(scratch)
    if opts.scaling:
        scaling(opts, scratch, inputs)
        shutil.rmtree(scratch)
        return
    base = os.path.abspath(opts.baseline) if opts.baseline else None
    binaries = [C_BIN, R_BIN] + ([base] if base else [])
    tags = {C_BIN: "c", R_BIN: "r", base: "b"}
    print(f"threads={opts.threads} runs={opts.runs}" + (f" baseline={base}" if base else ""))
    head = f"{'case':26} {'C s':>8} {'nanobragg s':>12} {'ratio':>7} {'C MiB':>7} {'nb MiB':>7} {'correlation':>13}"
    if base:
        head += f" {'earlier s':>10} {'new/earlier':>12} {'pair range':>12} {'same bytes':>11}"
    print(head)
    for name, program, args in CASES:
        if opts.only and name not in opts.only:
            continue
        times = {b: [] for b in binaries}
        mem = {b: 0.0 for b in binaries}
        images = {}
        for i in range(opts.runs):
            for binary in binaries:
                workdir = os.path.join(scratch, tags[binary])
                wall, rss, img = run(binary, program, args, opts.threads, workdir, inputs)
                times[binary].append(wall)
                mem[binary] = max(mem[binary], rss)
                images[binary] = img
        corr = "-"
        if images[C_BIN]:
            out = subprocess.run([CMP_BIN, images[C_BIN], images[R_BIN]], capture_output=True, text=True)
            corr = out.stdout.split()[1] if out.returncode == 0 else "error"
        tc, tr = statistics.median(times[C_BIN]), statistics.median(times[R_BIN])
        line = f"{name:26} {tc:8.3f} {tr:12.3f} {tc / tr:7.1f} {mem[C_BIN]:7.0f} {mem[R_BIN]:7.0f} {corr:>13}"
        if base:
            pairs = [a / b for a, b in zip(times[R_BIN], times[base])]
            # Compared in small blocks: reading whole images would raise this process's peak
            # memory, which the programs it starts afterwards inherit in their measured peak.
            same = "-" if not images[R_BIN] else \
                "yes" if filecmp.cmp(images[R_BIN], images[base], shallow=False) else "NO"
            line += (f" {statistics.median(times[base]):10.3f} {statistics.median(pairs):12.3f}"
                     f" {min(pairs):.3f}-{max(pairs):.3f} {same:>11}")
        print(line, flush=True)
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
