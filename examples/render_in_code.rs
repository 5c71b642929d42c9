//! Render an image from `Params` built in code, without the command line, and report its
//! statistics. Run with `cargo run --release --example render_in_code`.

use nanobragg::engine::{self, Backend};
use nanobragg::image;
use nanobragg::params::{Lattice, Params};
use nanobragg::setup::Setup;

fn main() -> Result<(), nanobragg::Error> {
    let right = 90f64.to_radians();
    let mut p = Params::default();
    p.crystal.lattice = Lattice::cell(100e-10, 100e-10, 100e-10, right, right, right);
    p.crystal.cells = [5.0; 3];
    p.structure_factors.default_f = 100.0;
    p.beam.wavelength = 6.2e-10;
    p.detector.set_pixels(512, 512);

    let setup = Setup::new(&p)?;
    for backend in Backend::ALL {
        let start = std::time::Instant::now();
        let img = engine::render(&setup, backend);
        let stats = image::stats(&setup, &img);
        println!(
            "{backend:?}: {}x{} pixels in {:.3} s; max {:.4} photons, mean {:.4e}",
            img.width,
            img.height,
            start.elapsed().as_secs_f64(),
            stats.max,
            stats.mean
        );
    }
    Ok(())
}
