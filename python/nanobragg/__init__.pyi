"""nanoBragg, the simulator of X-ray diffraction images from nanocrystals, in Rust.

Everything goes through nanoBragg's command line: ``simulate`` takes one, ``Simulation``
builds one from keyword arguments, so options, units (Å, mm, degrees, mrad, µm, eV),
defaults and error messages are the ``nanobragg`` command's.

Errors: ``ValueError`` for usage errors (the command line's exit status 2: unknown option,
bad value, no unit cell, no structure factors), with the message the command prints after
``nanobragg: error:``; ``OSError`` (``FileNotFoundError``, ``PermissionError``) naming the
file, and the line for a malformed line, for input files that cannot be read or parsed and
outputs that cannot be written (exit status 1); ``MemoryError`` for a detector larger than
the memory; ``RuntimeError`` if the simulator panics (a bug).
"""

import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__version__: str
"""The version of the nanobragg crate this module was built from."""

_Token = Union[str, int, float, os.PathLike[str]]
"""One command-line token: numbers are written as ``str()`` writes them."""

_Args = Union[str, Sequence[_Token]]
"""A command line: one string split on whitespace, or a sequence of tokens."""

_Value = Union[None, bool, _Token, Sequence[Union[int, float, str]]]
"""A keyword argument's value: ``None``/``False`` leave the option out, ``True`` gives the
flag alone, a sequence several values."""

_FloatImage = npt.NDArray[np.float32]
"""A float image: photons per pixel, shape (slow, fast)."""

def simulate(args: _Args, threads: Optional[int] = None) -> _FloatImage:
    """Simulate the float image of a nanoBragg command line.

    ``args`` is the command line without the program name: a list of tokens
    (``["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", ...]``;
    numbers and ``os.PathLike`` paths are accepted as tokens) or one string split on
    whitespace. Every option of the ``nanobragg`` command is accepted with its units and
    defaults; output options are accepted and ignored.

    Returns the image ``-floatfile`` would write, bit for bit: float32 photons per pixel,
    shape (slow, fast). With ``-frames N`` (N > 1), the rotation series, shape
    (N, slow, fast). Writes no file (not even the ``Fdump.bin`` cache a ``-hkl`` run of the
    command leaves) and prints nothing. Input files are read relative to the current
    directory; as on the command line, without ``-hkl`` an ``Fdump.bin`` there is read.

    ``threads``: worker threads (default: ``-nthreads``, else all cores or
    ``RAYON_NUM_THREADS``; 0 means the default). The image is the same for any count. The
    GIL is released while rendering.
    """

def help_text() -> str:
    """The ``nanobragg -help`` text: every option by group, with its unit and default."""

@final
class Simulation:
    """A nanoBragg simulation built from keyword arguments in nanoBragg's spellings and units.

    Each keyword is a command-line option: ``name=value`` is ``-name value``, a tuple or
    list gives several values (``cell=(100, 100, 100, 90, 90, 90)``), ``True`` the flag
    alone (``nopolar=True``), ``False`` and ``None`` leave the option out. One trailing
    underscore is dropped, for names Python reserves (``lambda_=6.2``; ``wavelength=6.2``
    also works). Keywords are read in the order given; where options contradict each other
    the last wins, as on the command line. Paths may be ``str`` or ``os.PathLike``, relative
    to the current directory.

    The options are checked, the input files read (``hkl``, ``mat``, ``sourcefile``,
    ``img``, ``mask``) and the simulation prepared once, by the constructor.

    >>> sim = Simulation(cell=(100, 100, 100, 90, 90, 90), default_F=100, lambda_=6.2,
    ...                  N=5, distance=100, detpixels=256)
    >>> sim.render().shape
    (256, 256)
    """

    def __new__(cls, **params: _Value) -> "Simulation": ...
    @staticmethod
    def from_args(args: _Args) -> "Simulation":
        """A simulation from a nanoBragg command line, as ``simulate`` takes it."""

    @property
    def args(self) -> List[str]:
        """The command line the keyword arguments stand for, as a list of tokens."""

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments as given (a copy; empty for ``from_args``)."""

    @property
    def shape(self) -> Tuple[int, int]:
        """The image shape: (slow, fast) pixels."""

    @property
    def fpixels(self) -> int:
        """Pixels along the fast axis (image columns)."""

    @property
    def spixels(self) -> int:
        """Pixels along the slow axis (image rows)."""

    @property
    def pixel_size(self) -> float:
        """The pixel size in mm."""

    @property
    def detsize(self) -> Tuple[float, float]:
        """The detector size in mm, (fast, slow)."""

    @property
    def notes(self) -> List[str]:
        """What the command line prints before its log: warnings and the files read."""

    def render(self, threads: Optional[int] = None) -> _FloatImage:
        """Render the float image, bit-identical to what ``-floatfile`` writes.

        float32 photons per pixel, shape (slow, fast). Writes no file. ``threads`` as for
        ``simulate`` (default: the ``nthreads`` option); the GIL is released.
        """

    def frames(self, n: int, threads: Optional[int] = None) -> "Frames":
        """The rotation series of ``n`` frames, as the command line's ``-frames n`` renders it.

        Frame i (from 0) covers ``phi + i*osc`` over ``osc`` in ``phisteps`` steps; frame 0
        is ``render()``. Returns an iterator that renders each frame when asked for it
        (``list(sim.frames(3))`` for all of them). The setup is shared by every frame.
        """

    def write(
        self,
        frames: Optional[int] = None,
        threads: Optional[int] = None,
        **outputs: _Value,
    ) -> str:
        """Run the command line's pipeline and write the files the keywords name.

        Outputs in the command line's spellings: ``floatfile``, ``intfile``, ``noisefile``,
        ``pgmfile``, ``pngfile``, ``cbffile``, ``npyfile``, ``h5file`` (HDF5 builds only),
        and ``nonoise``, ``nopgm``, ``scale``, ``pgmscale``, ``adc``, ``seed``, ``nthreads``.
        Options of the simulation itself raise ``ValueError`` (give them to the
        constructor).

        Only the files named are written: not the command line's default
        ``floatimage.bin``, ``intimage.img``, ``noiseimage.img``, ``image.pgm``, and not the
        ``Fdump.bin`` cache unless ``dump`` was given to the simulation. As on the command
        line the noise (and the miniCBF counts drawn from it) uses ``seed``, by default the
        clock; ``nonoise=True`` makes the CBF hold the integer image.

        ``frames``: a rotation series of that many frames (default: the simulation's
        ``frames`` option, else 1); file names get the frame number before the extension
        (``sim.cbf`` -> ``sim_00001.cbf``) and an ``h5file`` holds every frame.

        Returns the console log the command would print (file lines only for the files
        named). Raises ``OSError`` naming a file that cannot be written; no partial file is
        left behind.
        """

@final
class Frames(Iterator[_FloatImage]):
    """The frames of a rotation series, rendered one by one as they are iterated.

    Each is a float32 array of shape (slow, fast). ``len()`` is the number of frames left.
    """

    def __iter__(self) -> "Frames": ...
    def __next__(self) -> _FloatImage: ...
    def __len__(self) -> int: ...

__all__ = ["Frames", "Simulation", "__version__", "help_text", "simulate"]
