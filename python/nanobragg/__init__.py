"""nanoBragg, the simulator of X-ray diffraction images from nanocrystals, in Rust.

``simulate(args)`` renders the float image of a nanoBragg command line;
``Simulation(**params)`` builds a simulation from keyword arguments in nanoBragg's
spellings and units (Å, mm, degrees) and renders single images (``render``), rotation
series (``frames``) and the command line's output files (``write``).
"""

from ._nanobragg import Frames, Simulation, __version__, help_text, simulate

__all__ = ["Frames", "Simulation", "__version__", "help_text", "simulate"]
