//! Compare two raw float32 images (e.g. nanoBragg's and nanobragg's `-floatfile` output):
//! prints the Pearson correlation, the sum ratio and the worst relative error on pixels
//! brighter than 1 % of the reference peak.
//!
//! `cargo run --release --example compare_images -- REFERENCE.bin CANDIDATE.bin`

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [reference, candidate] = args.as_slice() else {
        eprintln!("usage: compare_images REFERENCE.bin CANDIDATE.bin");
        return ExitCode::from(2);
    };
    let read = |p: &str| nanobragg::io::read_float_image(Path::new(p));
    let (r, c) = match (read(reference), read(candidate)) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("compare_images: {e}");
            return ExitCode::from(1);
        }
    };
    if r.len() != c.len() {
        eprintln!("compare_images: {} vs {} pixels", r.len(), c.len());
        return ExitCode::from(1);
    }
    let (corr, worst) = nanobragg::engine::agreement(&r, &c);
    let sum = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>();
    println!(
        "correlation {corr:.10} sum_ratio {:.8} worst_rel {worst:.3e}",
        sum(&c) / sum(&r)
    );
    ExitCode::SUCCESS
}
