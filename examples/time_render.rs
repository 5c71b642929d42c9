//! Time one render of the seed benchmark image with each backend (for profiling).
use nanobragg::engine::{self, Backend};
use nanobragg::params::{Lattice, Params};
use nanobragg::setup::Setup;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4096);
    let right = 90f64.to_radians();
    let mut p = Params::default();
    p.crystal.lattice = Lattice::cell(100e-10, 100e-10, 100e-10, right, right, right);
    p.crystal.cells = [std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0); 3];
    p.structure_factors.default_f = 100.0;
    p.beam.wavelength = 6.2e-10;
    p.detector.set_pixels(n, n);
    let setup = Setup::new(&p).unwrap();
    for backend in [Backend::Simd, Backend::Simd, Backend::Simd] {
        let t = std::time::Instant::now();
        let img = engine::render(&setup, backend);
        println!(
            "{backend:?} {:.1} ms {}",
            t.elapsed().as_secs_f64() * 1e3,
            img.pixels[n * n / 2 + 7]
        );
    }
}
