"""Shared fixtures: the golden data of the C program and a scratch working directory.

The golden directory is ``$NANOBRAGG_GOLDEN_DIR``, else ``../shared/golden`` next to the
repository (as for the Rust golden test). ``$NANOBRAGG_BIN`` names the ``nanobragg`` binary
built from the same tree, for the bit-for-bit comparisons with the command line.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

# The Rust golden test's thresholds (tests/golden.rs).
MIN_CORRELATION = 0.999_999
MAX_SUM_DEVIATION = 1e-5
MAX_REL_ERR = 1e-4
BRIGHT_FRACTION = 0.01


def golden_dir() -> Path:
    env = os.environ.get("NANOBRAGG_GOLDEN_DIR")
    d = Path(env) if env else REPO.parent / "shared" / "golden"
    if not (d / "cases.json").is_file():
        pytest.fail(
            f"golden data not found: looked for {d / 'cases.json'} "
            "(set NANOBRAGG_GOLDEN_DIR to the golden directory)"
        )
    return d.resolve()


@pytest.fixture(scope="session")
def golden() -> Path:
    return golden_dir()


@pytest.fixture(scope="session")
def cases(golden):
    rows = json.loads((golden / "cases.json").read_text())["cases"]
    return {row["name"]: row for row in rows}


@pytest.fixture
def workdir(tmp_path, monkeypatch, golden):
    """An empty current directory holding only ``inputs`` -> the golden inputs."""
    (tmp_path / "inputs").symlink_to(golden / "inputs", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def case_args(case) -> list:
    """A case's command line as the Rust golden test runs it (compat cases with -compat)."""
    return list(case["args"]) + (["-compat"] if case["compat"] else [])


def read_f32(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4")


def float_metrics(reference: np.ndarray, candidate: np.ndarray):
    """Pearson correlation, sum ratio and worst relative error on the bright pixels, in f64."""
    r = reference.astype(np.float64).ravel()
    c = candidate.astype(np.float64).ravel()
    dr, dc = r - r.mean(), c - c.mean()
    var_r, var_c = (dr * dr).sum(), (dc * dc).sum()
    if var_r > 0 and var_c > 0:
        correlation = (dr * dc).sum() / np.sqrt(var_r * var_c)
    else:
        correlation = 1.0 if np.array_equal(r, c) else 0.0
    sum_r, sum_c = r.sum(), c.sum()
    sum_ratio = 1.0 if sum_r == 0 and sum_c == 0 else sum_c / sum_r
    bright = (r > BRIGHT_FRACTION * r.max()) & (r > 0)
    worst = float((np.abs(c[bright] - r[bright]) / np.abs(r[bright])).max(initial=0.0))
    return correlation, sum_ratio, worst


def cli_binary() -> Path:
    """The nanobragg binary named by NANOBRAGG_BIN, or a skip saying how to give it."""
    env = os.environ.get("NANOBRAGG_BIN")
    if not env:
        pytest.skip(
            "NANOBRAGG_BIN is not set: build the binary from this tree "
            "(cargo build --release) and set NANOBRAGG_BIN=target/release/nanobragg to "
            "compare with the command line bit for bit"
        )
    path = Path(env)
    if not path.is_absolute():
        path = REPO / path
    if not path.is_file():
        pytest.fail(f"NANOBRAGG_BIN={env}: no such file")
    return path


def run_cli(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cli_binary()), *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
