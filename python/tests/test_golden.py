"""simulate() against the C program's golden images and, bit for bit, against the CLI."""

import os

import numpy as np
import pytest

import nanobragg
from conftest import (
    MAX_REL_ERR,
    MAX_SUM_DEVIATION,
    MIN_CORRELATION,
    case_args,
    float_metrics,
    read_f32,
    run_cli,
)

# Cases covering the input files (HKL nearest and interpolated, matrix, sources, mask), the
# mosaic, a rotation, a rectangular detector and a compat quirk.
GOLDEN_CASES = [
    "p01_cubic",
    "p02_triclinic_misset",
    "p03_hkl_nearest",
    "p04_hkl_interpolate",
    "p06_matrix",
    "p07_mosaic",
    "p08_phi_oscillation",
    "p29_mask",
    "p31_sourcefile",
    "p38_rectangular",
]


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_simulate_matches_the_golden_image(name, cases, golden, workdir):
    case = cases[name]
    image = nanobragg.simulate(case_args(case))
    reference = read_f32(golden / case["files"]["float"])
    assert image.dtype == np.float32
    assert image.ndim == 2 and image.size == reference.size
    assert image.flags["C_CONTIGUOUS"]
    correlation, sum_ratio, worst = float_metrics(reference, image)
    assert correlation >= MIN_CORRELATION, f"correlation {correlation:.8f}"
    assert abs(sum_ratio - 1) <= MAX_SUM_DEVIATION, f"sum ratio {sum_ratio:.8f}"
    assert worst <= MAX_REL_ERR, f"worst relative error {worst:.3e}"
    # Nothing written: no float image, no Fdump.bin cache after -hkl.
    assert os.listdir(workdir) == ["inputs"]


def test_the_string_form_is_the_token_form(cases, workdir):
    args = case_args(cases["p03_hkl_nearest"])
    assert nanobragg.simulate(" ".join(args)).tobytes() == nanobragg.simulate(args).tobytes()


@pytest.mark.parametrize("name", ["p04_hkl_interpolate", "p08_phi_oscillation"])
def test_simulate_is_the_cli_float_image_bit_for_bit(name, cases, workdir):
    args = case_args(cases[name])
    cli = run_cli(args + ["-floatfile", "cli.bin", "-nonoise", "-nopgm", "-quiet"], workdir)
    assert cli.returncode == 0, cli.stderr
    image = nanobragg.simulate(args)
    assert image.shape == nanobragg.Simulation.from_args(args).shape
    assert image.tobytes() == (workdir / "cli.bin").read_bytes()


def test_a_series_is_the_cli_series_bit_for_bit(cases, workdir):
    args = case_args(cases["p08_phi_oscillation"]) + ["-detpixels", "64"]
    cli = run_cli(args + ["-frames", "3", "-floatfile", "s.bin", "-nonoise", "-nopgm", "-quiet"], workdir)
    assert cli.returncode == 0, cli.stderr
    frames = list(nanobragg.Simulation.from_args(args).frames(3))
    for i, frame in enumerate(frames, start=1):
        assert frame.tobytes() == (workdir / f"s_{i:05d}.bin").read_bytes(), f"frame {i}"
    series = nanobragg.simulate(args + ["-frames", "3"])
    assert series.shape == (3, 64, 64)
    assert series.tobytes() == b"".join(f.tobytes() for f in frames)


def test_write_is_the_cli_output_bit_for_bit(cases, workdir):
    args = case_args(cases["p30_noise"])
    outputs = ["-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img",
               "-pgmfile", "p.pgm", "-cbffile", "c.cbf", "-npyfile", "a.npy", "-seed", "777"]
    cli_dir = workdir / "cli"
    cli_dir.mkdir()
    cli = run_cli(args + outputs + ["-quiet"], cli_dir)
    assert cli.returncode == 0, cli.stderr
    py_dir = workdir / "py"
    py_dir.mkdir()
    os.chdir(py_dir)
    log = nanobragg.Simulation.from_args(args).write(
        floatfile="f.bin", intfile="i.img", noisefile="n.img", pgmfile="p.pgm",
        cbffile="c.cbf", npyfile="a.npy", seed=777,
    )
    assert "writing n.img as 2-byte integers" in log
    assert sorted(os.listdir(py_dir)) == sorted(os.listdir(cli_dir))
    for f in os.listdir(cli_dir):
        assert (py_dir / f).read_bytes() == (cli_dir / f).read_bytes(), f
