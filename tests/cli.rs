//! The `nanobragg` binary as users meet it: help and version, exit statuses and messages for
//! bad input, the files it writes (and does not write on failure), the `Fdump.bin` cache, and
//! images that do not depend on the thread count.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

mod scratch;
use scratch::scratch_dir;

fn run(dir: &Path, args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("run nanobragg")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const CUBIC: &str = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -distance 100";

#[test]
fn help_lists_options_with_units_and_groups() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    for flag in ["-help", "--help", "-h"] {
        let o = run(dir, flag);
        assert_eq!(o.status.code(), Some(0));
        let text = stdout(&o);
        for needle in [
            "-hkl",
            "-lambda",
            "-detpixels",
            "-misset",
            "Detector geometry",
            "mm",
        ] {
            assert!(text.contains(needle), "{flag}: help lacks {needle}");
        }
    }
    let o = run(dir, "--version");
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("nanobragg"));
}

#[test]
fn usage_errors_exit_2_and_name_the_option() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    let cases = [
        ("-lamda 1", &["-lamda", "-lambda"][..]),
        ("-default_F 100", &["-cell"][..]),
        ("-cell 100 100 100 90 90 90", &["-hkl", "-default_F"][..]),
        (&format!("{CUBIC} -lambda"), &["-lambda"][..]),
        (&format!("{CUBIC} -detpixels 0"), &["-detpixels"][..]),
        (&format!("{CUBIC} -printout"), &["not supported yet"][..]),
        (&format!("{CUBIC} -pixel -0.1"), &["-pixel"][..]),
    ];
    for (args, needles) in cases {
        let o = run(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args}: {}", stderr(&o));
        for n in needles {
            assert!(stderr(&o).contains(n), "{args}: {} lacks {n}", stderr(&o));
        }
    }
    assert!(
        fs::read_dir(dir).unwrap().next().is_none(),
        "a failed run wrote files"
    );
}

#[test]
fn malformed_input_files_exit_1_naming_file_and_line() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    fs::write(dir.join("bad.hkl"), "0 0 0 10\n1 0 0 20\n1 x 0 5\n").unwrap();
    let o = run(dir, "-hkl bad.hkl -cell 50 50 50 90 90 90 -detpixels 16");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.hkl:3"), "{}", stderr(&o));

    fs::write(dir.join("short.mat"), "0.01 0 0\n0 0.01\n").unwrap();
    let o = run(dir, "-mat short.mat -default_F 10 -detpixels 16");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("short.mat"), "{}", stderr(&o));

    let o = run(
        dir,
        "-hkl missing.hkl -cell 50 50 50 90 90 90 -detpixels 16",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.hkl"), "{}", stderr(&o));

    let names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".hkl") || n.ends_with(".mat")),
        "a failed run left files: {names:?}"
    );
}

#[test]
fn default_outputs_and_quiet() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    let o = run(
        dir,
        &format!("{CUBIC} -detpixels 32 -seed 5 -quiet -pngfile p.png"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "-quiet printed {}", stdout(&o));
    assert_eq!(
        fs::metadata(dir.join("floatimage.bin")).unwrap().len(),
        32 * 32 * 4
    );
    assert_eq!(
        fs::metadata(dir.join("intimage.img")).unwrap().len(),
        512 + 32 * 32 * 2
    );
    assert_eq!(
        fs::metadata(dir.join("noiseimage.img")).unwrap().len(),
        512 + 32 * 32 * 2
    );
    assert!(
        fs::read(dir.join("image.pgm"))
            .unwrap()
            .starts_with(b"P5\n32 32\n")
    );
    assert!(
        fs::read(dir.join("p.png"))
            .unwrap()
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );

    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    let o = run(
        dir,
        &format!("{CUBIC} -detpixels 8 -nonoise -nopgm -coherent"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("-coherent"),
        "inert option not reported"
    );
    assert!(!dir.join("noiseimage.img").exists() && !dir.join("image.pgm").exists());
}

#[test]
fn fdump_cache_is_written_and_announced() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    fs::write(dir.join("f.hkl"), "0 0 0 10\n1 0 0 20\n0 1 0 30\n").unwrap();
    let o = run(
        dir,
        "-hkl f.hkl -cell 50 50 50 90 90 90 -N 5 -detpixels 16 -nonoise -nopgm",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("writing dump file for next time: Fdump.bin"));
    let first = fs::read(dir.join("floatimage.bin")).unwrap();
    // Without -hkl the cache is used (as nanoBragg does), and the console says so.
    let o = run(
        dir,
        "-cell 50 50 50 90 90 90 -N 5 -detpixels 16 -nonoise -nopgm",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("reading Fs from Fdump.bin"));
    assert_eq!(fs::read(dir.join("floatimage.bin")).unwrap(), first);
}

#[test]
fn images_do_not_depend_on_the_thread_count() {
    let args = "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -lambda 1 -N 5 \
                -distance 100 -detpixels 64 -oversample 2 -mosaic 0.3 -mosaic_domains 3 \
                -phi 0 -osc 0.2 -phisteps 2 -seed 9";
    let mut reference: Option<Vec<Vec<u8>>> = None;
    for threads in [1, 2, 7] {
        let tmp = scratch_dir("cli");
        let dir = tmp.path();
        let o = run(dir, &format!("{args} -nthreads {threads}"));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let files: Vec<Vec<u8>> = [
            "floatimage.bin",
            "intimage.img",
            "noiseimage.img",
            "image.pgm",
        ]
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
        match &reference {
            None => reference = Some(files),
            Some(r) => assert!(r == &files, "{threads} threads changed the output"),
        }
    }
}

/// Q3: in the default mode `-misset_seed` is only the seed, so its place on the command line does
/// not change the random orientation; `-compat` keeps C's collision, where a seed given after
/// `-misset random` also reads as `-misset 99 <next> <next>` and replaces the orientation.
#[test]
fn misset_seed_position_does_not_change_the_orientation() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    let base = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -N 5 -detpixels 48 -nonoise \
                -nopgm -quiet";
    let image = |order: &str, compat: &str| {
        let o = run(dir, &format!("{base} {order} -distance 100 {compat}"));
        assert_eq!(o.status.code(), Some(0), "{order}: {}", stderr(&o));
        fs::read(dir.join("floatimage.bin")).unwrap()
    };
    let seed_first = image("-misset_seed 99 -misset random", "");
    let seed_last = image("-misset random -misset_seed 99", "");
    assert_eq!(
        seed_first, seed_last,
        "the seed's position changed the image"
    );
    assert_eq!(
        image("-misset_seed 99 -misset random", "-compat"),
        seed_first
    );
    assert_ne!(
        image("-misset random -misset_seed 99", "-compat"),
        seed_first,
        "-compat did not reproduce C's -misset_seed collision"
    );
}

/// A rotation series: frame i covers -phi + (i−1)·-osc; every output is numbered; the first
/// frame is the single image of the same command line, later frames the single images of their
/// own φ, with their own noise.
#[test]
fn frames_render_a_numbered_rotation_series() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -lambda 1 -N 5 \
                -distance 100 -detpixels 48 -phisteps 2 -seed 3 -quiet -nopgm";
    let o = run(
        dir,
        &format!(
            "{base} -phi 5 -osc 0.5 -frames 3 -floatfile f.bin -intfile i.img \
                  -noisefile n.img -cbffile c.cbf -npyfile a.npy"
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for n in 1..=3 {
        for name in ["f", "i", "n", "c", "a"] {
            let ext = match name {
                "f" => "bin",
                "i" | "n" => "img",
                "c" => "cbf",
                _ => "npy",
            };
            let path = dir.join(format!("{name}_{n:05}.{ext}"));
            assert!(path.is_file(), "{} missing", path.display());
        }
        let header =
            String::from_utf8_lossy(&fs::read(dir.join(format!("i_{n:05}.img"))).unwrap()[..512])
                .into_owned();
        let start = [5.0, 5.5, 6.0][n - 1];
        assert!(
            header.contains(&format!("\nOSC_START={start};\nOSC_RANGE=0.5;\n")),
            "frame {n}: {header}"
        );
    }
    assert!(
        !dir.join("f.bin").exists(),
        "an unnumbered file was written"
    );
    let read = |name: &str| fs::read(dir.join(name)).unwrap();
    assert_ne!(read("n_00001.img"), read("n_00002.img"));

    let single = |phi: &str, tag: &str| {
        let o = run(
            dir,
            &format!(
                "{base} -phi {phi} -osc 0.5 -floatfile s{tag}.bin -intfile s{tag}.img \
                      -noisefile sn{tag}.img"
            ),
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    single("5", "1");
    assert_eq!(read("f_00001.bin"), read("s1.bin"));
    assert_eq!(read("i_00001.img"), read("s1.img"));
    assert_eq!(read("n_00001.img"), read("sn1.img"));
    single("6", "3");
    let floats = |b: Vec<u8>| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let (series, alone) = (floats(read("f_00003.bin")), floats(read("s3.bin")));
    let peak = alone.iter().cloned().fold(0.0f32, f32::max);
    assert!(peak > 0.0);
    for (a, b) in series.iter().zip(&alone) {
        assert!(
            (a - b).abs() <= 1e-6 * peak,
            "frame 3 is not the image at phi 6: {a} vs {b}"
        );
    }
}

#[test]
fn bad_series_and_unwritable_outputs_fail_before_rendering() {
    let tmp = scratch_dir("cli");
    let dir = tmp.path();
    for frames in ["0", "-2", "x", "1.5"] {
        let o = run(dir, &format!("{CUBIC} -detpixels 8 -frames {frames}"));
        assert_eq!(o.status.code(), Some(2), "-frames {frames}: {}", stderr(&o));
        assert!(stderr(&o).contains("-frames"), "{}", stderr(&o));
    }
    for output in ["-cbffile", "-npyfile", "-floatfile", "-pngfile"] {
        let o = run(
            dir,
            &format!("{CUBIC} -detpixels 8 -frames 2 {output} missing/dir/x.out"),
        );
        assert_eq!(o.status.code(), Some(1), "{output}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("missing/dir/x_00001.out"),
            "{}",
            stderr(&o)
        );
        assert!(
            !stdout(&o).contains("solid angle"),
            "{output}: rendered first"
        );
    }
    let o = run(dir, &format!("{CUBIC} -detpixels 8 -intfile ."));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        fs::read_dir(dir).unwrap().next().is_none(),
        "a failed run wrote files"
    );
}
