"""Reads simulated images with dxtbx and prints the geometry it finds, as JSON.

Usage: python3 geometry.py IMAGE [IMAGE ...]

For every image (an SMV or CBF file, or an NXmx file with several frames) prints one JSON line:
the dxtbx format class, the beam centre in pixels where the beam meets the panel (fast, slow),
the distance from the sample to the panel plane (mm), the pixel size and image size, the
wavelength (A), the panel axes and origin in the DIALS laboratory frame, the rotation axis,
the scan's oscillation (start, width in degrees) per image, and the pixel values' sum per image.
The nanobragg test suite (tests/dials.rs) compares these with what it simulated.
"""

import json
import sys

from dxtbx.model.experiment_list import ExperimentListFactory


def describe(path):
    experiments = ExperimentListFactory.from_filenames([path])
    imageset = experiments.imagesets()[0]
    detector = imageset.get_detector()
    beam = imageset.get_beam()
    panel = detector[0]
    scan = imageset.get_scan()
    goniometer = imageset.get_goniometer()
    images = []
    for i in range(len(imageset)):
        data = imageset.get_raw_data(i)[0]
        osc = scan.get_image_oscillation(scan.get_image_range()[0] + i) if scan else None
        images.append(
            {
                "oscillation": list(osc) if osc else None,
                "sum": float(sum(data.as_double())),
                "max": float(max(data.as_double())),
            }
        )
    return {
        "path": path,
        "format": type(imageset.get_format_class()).__name__
        if not isinstance(imageset.get_format_class(), type)
        else imageset.get_format_class().__name__,
        "panels": len(detector),
        "beam_centre_px": list(panel.get_beam_centre_px(beam.get_s0())),
        "distance_mm": panel.get_distance(),
        "pixel_size_mm": list(panel.get_pixel_size()),
        "image_size": list(panel.get_image_size()),
        "wavelength_a": beam.get_wavelength(),
        "fast": list(panel.get_fast_axis()),
        "slow": list(panel.get_slow_axis()),
        "origin_mm": list(panel.get_origin()),
        "beam_direction": list(beam.get_sample_to_source_direction()),
        "rotation_axis": list(goniometer.get_rotation_axis()) if goniometer else None,
        "images": images,
    }


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(json.dumps(describe(path)))
