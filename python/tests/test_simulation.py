"""Simulation: keywords -> command line, threads, rotation series, write(), the GIL."""

import os
import pathlib
import tempfile
import threading
import time

import numpy as np
import pytest

import nanobragg

CUBIC = dict(cell=(100, 100, 100, 90, 90, 90), default_F=100, lambda_=6.2, N=5,
             distance=100, detpixels=128)


def test_keywords_become_the_command_line(workdir):
    sim = nanobragg.Simulation(
        cell=(100, 100, 100, 90, 90, 90), default_F=100, wavelength=np.float64(6.2),
        misset=[-10, 20.5, 30], hkl=pathlib.Path("inputs/P1.hkl"), nopolar=True,
        roi=None, curved_det=False, N=5, detpixels=64,
    )
    assert sim.args == [
        "-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100",
        "-wavelength", "6.2", "-misset", "-10", "20.5", "30", "-hkl", "inputs/P1.hkl",
        "-nopolar", "-N", "5", "-detpixels", "64",
    ]
    assert sim.params["misset"] == [-10, 20.5, 30]
    sim.params["N"] = 7  # a copy
    assert sim.params["N"] == 5
    assert "reading inputs/P1.hkl" in sim.notes
    assert repr(sim).startswith("nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), ")


def test_keywords_render_as_the_command_line(workdir):
    sim = nanobragg.Simulation(**CUBIC, misset=(10, 20, 30))
    same = nanobragg.simulate(
        "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -distance 100 "
        "-detpixels 128 -misset 10 20 30"
    )
    assert sim.render().tobytes() == same.tobytes()
    wavelength = nanobragg.Simulation(**{**CUBIC, "lambda_": None}, wavelength=6.2)
    assert wavelength.render().tobytes() == nanobragg.Simulation(**CUBIC).render().tobytes()


def test_detector_properties():
    sim = nanobragg.Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=1, pixel=0.15,
                               detpixels_x=20, detpixels_y=15, distance=120)
    assert sim.shape == (15, 20)
    assert (sim.spixels, sim.fpixels) == (15, 20)
    assert sim.pixel_size == pytest.approx(0.15)
    assert sim.detsize == pytest.approx((3.0, 2.25))
    assert sim.render().shape == (15, 20)


def test_threads_give_identical_images():
    sim = nanobragg.Simulation(**CUBIC, misset=(1, 2, 3), mosaic=0.5, mosaic_domains=4)
    one = sim.render(threads=1)
    two = sim.render(threads=2)
    assert one.tobytes() == two.tobytes()
    assert one.tobytes() == sim.render().tobytes()
    args = sim.args
    assert nanobragg.simulate(args, threads=1).tobytes() == one.tobytes()
    assert nanobragg.simulate(args + ["-nthreads", "2"]).tobytes() == one.tobytes()


def test_frames_are_single_images_with_phi_moved():
    params = dict(CUBIC, misset=(12, -7, 31), phi=0.3, osc=1.0, phisteps=2)
    sim = nanobragg.Simulation(**params)
    frames = sim.frames(3)
    assert len(frames) == 3
    images = list(frames)
    assert len(images) == 3 and len(frames) == 0
    assert images[0].tobytes() == sim.render().tobytes()
    assert images[0].tobytes() == next(nanobragg.Simulation(**params).frames(1)).tobytes()
    for i, image in enumerate(images):
        single = nanobragg.simulate(sim.args + ["-phi", repr(0.3 + i * 1.0)])
        assert image.shape == single.shape
        peak = float(single.max())
        assert np.max(np.abs(image.astype(np.float64) - single)) <= 1e-6 * peak, f"frame {i}"
    assert not np.array_equal(images[0], images[1])


def test_write_writes_what_it_is_asked_for_and_nothing_else(workdir):
    sim = nanobragg.Simulation(**CUBIC, hkl="inputs/P1.hkl", misset=(5, 10, 15))
    def scratch():
        return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("nanobragg-py-")}

    before = scratch()
    log = sim.write(floatfile="a.bin")
    assert sorted(os.listdir(workdir)) == ["a.bin", "inputs"]  # no Fdump.bin, no defaults
    assert (workdir / "a.bin").read_bytes() == sim.render().tobytes()
    assert "writing a.bin as 16384 4-byte floats" in log
    assert "Fdump" not in log and "intimage" not in log
    sim.write(npyfile="a.npy", pngfile="a.png", cbffile="a.cbf", pgmfile="a.pgm",
              intfile="a.img", seed=5)
    assert sorted(os.listdir(workdir)) == [
        "a.bin", "a.cbf", "a.img", "a.npy", "a.pgm", "a.png", "inputs"]
    assert np.load(workdir / "a.npy").tobytes() == sim.render().tobytes()
    # No scratch directory left behind.
    assert scratch() == before


def test_write_series_and_cache(workdir):
    sim = nanobragg.Simulation(**CUBIC, hkl="inputs/P1.hkl", dump="cache.bin", phi=0, osc=1)
    sim.write(frames=2, noisefile="n.img", nonoise=False, seed=3)
    assert sorted(os.listdir(workdir)) == ["cache.bin", "inputs", "n_00001.img", "n_00002.img"]
    frames = nanobragg.Simulation(**CUBIC, dump="cache.bin", phi=0, osc=1).frames(2)
    assert [f.tobytes() for f in frames] == [f.tobytes() for f in sim.frames(2)]


def test_h5file_needs_the_hdf5_build(workdir):
    sim = nanobragg.Simulation(**CUBIC)
    try:
        sim.write(h5file="a.h5")
    except ValueError as e:
        assert "HDF5" in str(e)
        assert os.listdir(workdir) == ["inputs"]
    else:
        assert sorted(os.listdir(workdir)) == ["a.h5", "inputs"]


def test_nothing_is_printed(capfd, workdir):
    sim = nanobragg.Simulation(**CUBIC, coherent=True)
    nanobragg.simulate(sim.args)
    sim.render()
    list(sim.frames(2))
    assert any(n.startswith("WARNING") for n in sim.notes)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_the_gil_is_released_while_rendering():
    sim = nanobragg.Simulation(**dict(CUBIC, detpixels=1024, N=10, misset=(1, 2, 3),
                                      mosaic=0.5, mosaic_domains=60))
    span = []
    done = threading.Event()

    def render():
        t0 = time.perf_counter()
        sim.render(threads=1)
        span.extend([t0, time.perf_counter()])
        done.set()

    worker = threading.Thread(target=render)
    stamps = []
    worker.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    t0, t1 = span
    assert t1 - t0 > 0.02, "the render is too short to tell"
    # Holding the GIL, the render would have kept this thread from running in the middle half
    # of it (the ends allow for the interpreter's switch interval).
    middle = [t for t in stamps if t0 + 0.25 * (t1 - t0) < t < t1 - 0.25 * (t1 - t0)]
    assert len(middle) >= 5, (t1 - t0, len(stamps), len(middle))


def test_version_and_help():
    assert nanobragg.__version__.count(".") == 2
    assert "-hkl" in nanobragg.help_text()
