"""Reads images with fabio and prints their pixels, as JSON.

Usage: python3 fabio_pixels.py IMAGE [IMAGE ...]

Prints one JSON line per image: the fabio class that read it, the array's shape (slow, fast),
its dtype, and the pixel values in row-major order.
"""

import json
import sys

import fabio

for path in sys.argv[1:]:
    image = fabio.open(path)
    print(
        json.dumps(
            {
                "class": type(image).__name__,
                "shape": list(image.data.shape),
                "dtype": str(image.data.dtype),
                "pixels": image.data.ravel().tolist(),
            }
        )
    )
