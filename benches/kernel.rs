//! Microbenchmarks of the pixel loop: one detector row, and a full small image at one thread
//! and at all threads.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nanobragg::engine::{self, Backend, scalar, simd};
use nanobragg::params::{Lattice, Params};
use nanobragg::setup::Setup;

/// The seed configuration of the performance study: 100 Å cube, F = 100, λ = 6.2 Å, N = 5,
/// 100 mm, `n × n` pixels of 0.1 mm.
fn seed_params(n: usize) -> Params {
    let mut p = Params::default();
    let right = 90f64.to_radians();
    p.crystal.lattice = Lattice::cell(100e-10, 100e-10, 100e-10, right, right, right);
    p.crystal.cells = [5.0; 3];
    p.structure_factors.default_f = 100.0;
    p.beam.wavelength = 6.2e-10;
    p.detector.set_pixels(n, n);
    p
}

fn row(c: &mut Criterion) {
    let setup = Setup::new(&seed_params(1024)).expect("valid parameters");
    let mut group = c.benchmark_group("row_1024");
    group.throughput(Throughput::Elements(1024));
    let mut out = vec![0f32; 1024];
    group.bench_function(BenchmarkId::from_parameter("Scalar"), |b| {
        b.iter(|| scalar::render_row(&setup, 512, &mut out, None, None));
    });
    let prep = simd::Prepared::new(&setup);
    let mut block = simd::Block::new();
    group.bench_function(
        BenchmarkId::from_parameter(format!("Simd/{}", nanobragg::cpu::simd_level())),
        |b| {
            b.iter(|| simd::render_row(&setup, &prep, &mut block, 512, &mut out, None));
        },
    );
    group.finish();
}

fn image(c: &mut Criterion) {
    let setup = Setup::new(&seed_params(256)).expect("valid parameters");
    let mut group = c.benchmark_group("image_256");
    group.throughput(Throughput::Elements(256 * 256));
    group.sample_size(20);
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, all] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        for backend in Backend::ALL {
            let id = format!("{backend:?}/{threads}t");
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| pool.install(|| engine::render(&setup, backend)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, row, image);
criterion_main!(benches);
