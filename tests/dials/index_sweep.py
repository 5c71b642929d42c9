"""Processes a simulated rotation sweep with DIALS and prints what it found, as JSON.

Usage: python3 index_sweep.py WORKDIR "a b c alpha beta gamma" IMAGE [IMAGE ...]

Runs, in WORKDIR: dials.import on the images, dials.find_spots, and dials.index with the beam
and detector fixed at what the files' headers say (so a wrong header shows as a bad fit, not
as refined-away geometry). Prints one JSON object: spots found, spots indexed and their
fraction, the positional RMSDs (pixels along x and y, images along z) of the spots used in
the final refinement,
the indexed cell, and whether it matches the simulated cell (both Niggli-reduced, lengths
within 1 %, angles within 1 degree).
"""

import json
import math
import os
import subprocess
import sys

from cctbx import uctbx
from dials.array_family import flex
from dxtbx.model.experiment_list import ExperimentListFactory


def run(workdir, *command):
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"{command[0]} failed with status {result.returncode}")
    return result.stdout


def main(workdir, cell, images):
    images = [os.path.abspath(i) for i in images]
    run(workdir, "dials.import", *images)
    run(workdir, "dials.find_spots", "imported.expt", "nproc=1")
    run(
        workdir,
        "dials.index",
        "imported.expt",
        "strong.refl",
        "refinement.parameterisation.beam.fix=all",
        "refinement.parameterisation.detector.fix=all",
    )
    strong = flex.reflection_table.from_file(os.path.join(workdir, "strong.refl"))
    indexed = flex.reflection_table.from_file(os.path.join(workdir, "indexed.refl"))
    indexed = indexed.select(indexed.get_flags(indexed.flags.indexed))
    refined = indexed.select(indexed.get_flags(indexed.flags.used_in_refinement))
    experiments = ExperimentListFactory.from_json_file(
        os.path.join(workdir, "indexed.expt"), check_format=False
    )
    crystal = experiments[0].crystal
    found = crystal.get_unit_cell()
    simulated = uctbx.unit_cell(cell)
    scan = experiments[0].scan
    width = scan.get_oscillation()[1]
    obs_x, obs_y, obs_z = refined["xyzobs.px.value"].parts()
    cal_x, cal_y, cal_z = refined["xyzcal.px"].parts()

    def rmsd(a, b):
        d = a - b
        return math.sqrt(flex.sum(d * d) / len(d)) if len(d) else float("nan")

    niggli_found = found.niggli_cell()
    niggli_sim = simulated.niggli_cell()
    print(
        json.dumps(
            {
                "strong": len(strong),
                "indexed": len(indexed),
                "refined": len(refined),
                "fraction": len(indexed) / max(len(strong), 1),
                "rmsd_x_px": rmsd(obs_x, cal_x),
                "rmsd_y_px": rmsd(obs_y, cal_y),
                "rmsd_z_images": rmsd(obs_z, cal_z),
                "oscillation_deg": width,
                "cell": list(found.parameters()),
                "niggli_cell": list(niggli_found.parameters()),
                "simulated_niggli_cell": list(niggli_sim.parameters()),
                "cell_matches": niggli_found.is_similar_to(niggli_sim, 0.01, 1.0),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], [float(v) for v in sys.argv[2].split()], sys.argv[3:])
