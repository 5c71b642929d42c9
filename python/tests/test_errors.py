"""Errors: the command line's messages, as ValueError (usage) and OSError (files)."""

import pytest

import nanobragg
from conftest import run_cli

CELL = ["-cell", "100", "100", "100", "90", "90", "90"]
SMALL = ["-lambda", "6.2", "-N", "5", "-distance", "100", "-detpixels", "32"]


def cli_message(args, cwd):
    """What the binary prints after ``nanobragg: error: `` (skips without NANOBRAGG_BIN)."""
    result = run_cli(args, cwd)
    assert result.returncode != 0
    prefix = "nanobragg: error: "
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(prefix), result.stderr
    return result.returncode, line[len(prefix):]


def test_unknown_option_is_a_value_error_naming_the_closest(workdir):
    args = CELL + ["-default_F", "1", "-lamda", "1"]
    with pytest.raises(ValueError) as e:
        nanobragg.simulate(args)
    assert str(e.value) == "-lamda: unknown option; did you mean -lambda?"
    with pytest.raises(ValueError, match="did you mean -lambda"):
        nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=1, lamda=1)


def test_missing_hkl_is_an_os_error_naming_it(workdir):
    with pytest.raises(OSError) as e:
        nanobragg.simulate(CELL + ["-hkl", "missing.hkl"] + SMALL)
    assert isinstance(e.value, FileNotFoundError)
    assert str(e.value).startswith("missing.hkl: ")
    with pytest.raises(FileNotFoundError, match="missing.hkl"):
        nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), hkl=workdir / "missing.hkl")


def test_malformed_hkl_line_is_an_os_error_naming_file_and_line(workdir):
    (workdir / "bad.hkl").write_text("1 2 3 100\n1 2 x 5\n")
    with pytest.raises(OSError) as e:
        nanobragg.simulate(CELL + ["-hkl", "bad.hkl"] + SMALL)
    assert str(e.value) == 'bad.hkl:2: l is not a number: "x"'


def test_usage_errors_are_value_errors():
    with pytest.raises(ValueError, match="no unit cell"):
        nanobragg.simulate("-default_F 100")
    with pytest.raises(ValueError, match="-frames"):
        nanobragg.simulate(CELL + ["-default_F", "1", "-frames", "0"] + SMALL)
    with pytest.raises(ValueError, match="help_text"):
        nanobragg.simulate("-help")


@pytest.mark.parametrize(
    "args",
    [
        CELL + ["-default_F", "1", "-lamda", "1"],
        CELL + ["-hkl", "missing.hkl"] + SMALL,
        CELL + ["-hkl", "bad.hkl"] + SMALL,
        ["-default_F", "100"],
        CELL + ["-default_F", "1", "-detpixels", "-3"],
        ["-default_F", "1", "-mat", "bad.mat"] + SMALL,
        CELL + ["-default_F", "1", "-sourcefile", "bad.mat"] + SMALL,
    ],
    ids=["unknown", "missing", "malformed", "nocell", "badvalue", "badmatrix", "badsources"],
)
def test_messages_and_kinds_are_the_cli_ones(args, workdir):
    (workdir / "bad.hkl").write_text("1 2 3 100\n1 2 x 5\n")
    (workdir / "bad.mat").write_text("1 2 x\n")
    code, message = cli_message(args, workdir)
    with pytest.raises(Exception) as e:
        nanobragg.simulate(args)
    assert str(e.value) == message
    assert isinstance(e.value, ValueError if code == 2 else OSError)


def test_bad_argument_types_are_type_errors():
    with pytest.raises(TypeError):
        nanobragg.simulate(b"-cell 100 100 100 90 90 90")
    with pytest.raises(TypeError):
        nanobragg.simulate(["-N", object()])
    with pytest.raises(TypeError):
        nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=1, N=[[5]])


def test_write_refuses_options_of_the_simulation(workdir):
    sim = nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=1, lambda_=6.2,
                               detpixels=32)
    with pytest.raises(ValueError, match=r"write\(\): N= is not an output option"):
        sim.write(floatfile="x.bin", N=10)
    with pytest.raises(ValueError, match="did you mean"):
        sim.write(floatfle="x.bin")
    assert sorted(p.name for p in workdir.iterdir()) == ["inputs"]


def test_an_unwritable_output_is_an_os_error_naming_it(workdir):
    sim = nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=1, lambda_=6.2,
                               detpixels=32)
    with pytest.raises(OSError, match="nodir/x.bin"):
        sim.write(floatfile="nodir/x.bin")
