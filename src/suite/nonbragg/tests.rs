//! Tests of the command: options, files, errors, modes.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

/// A scratch folder with a small table in it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let d = Dir(tempfile::tempdir().unwrap());
        std::fs::write(
            d.p("t.stol"),
            "0 2.6\n0.1 2.0\n0.2 1.5\n0.3 1.8\n0.4 1.2\n0.6 1.0\n",
        )
        .unwrap();
        d
    }

    fn p(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// Run `nonbragg` with `line` (file names relative to the folder) and every output in it.
    fn run(&self, line: &str) -> (Result<()>, String) {
        let mut argv: Vec<String> = Vec::new();
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let is_file = i > 0
                && [
                    "-stol",
                    "-4stol",
                    "-Q",
                    "-sourcefile",
                    "-img",
                    "-floatfile",
                    "-intfile",
                    "-noisefile",
                    "-pgmfile",
                    "-stolout",
                ]
                .contains(&words[i - 1]);
            argv.push(if is_file {
                self.p(w).display().to_string()
            } else {
                w.to_string()
            });
        }
        for (flag, name) in [
            ("-floatfile", "float.bin"),
            ("-intfile", "int.img"),
            ("-noisefile", "noise.img"),
            ("-pgmfile", "image.pgm"),
            ("-stolout", "output.stol"),
        ] {
            if !words.contains(&flag) {
                argv.push(flag.into());
                argv.push(self.p(name).display().to_string());
            }
        }
        let mut out = Vec::new();
        let r = main(&argv, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    fn floats(&self, name: &str) -> Vec<f32> {
        crate::io::read_float_image(&self.p(name)).unwrap()
    }
}

#[test]
fn end_to_end_outputs_and_log() {
    let d = Dir::new();
    let (r, log) =
        d.run("-stol t.stol -detpixels 13 -pixel 0.1 -distance 20 -seed 5 -oversample 2");
    r.unwrap();
    assert!(
        log.contains("(13x13 pixels)"),
        "-detpixels gives exactly 13: {log}"
    );
    assert!(log.contains("  10 initialized F points"));
    assert!(log.contains("  seed: -5"));
    let img = d.floats("float.bin");
    assert_eq!(img.len(), 169);
    assert!(img.iter().all(|&v| v > 0.0));
    let pgm = std::fs::read(d.p("image.pgm")).unwrap();
    assert!(pgm.starts_with(b"P5\n13 13\n# pixels scaled by "));
    let body = pgm.windows(4).position(|w| w == b"255\n").unwrap() + 4;
    assert_eq!(pgm.len() - body, 169);
    let noise = std::fs::read(d.p("noise.img")).unwrap();
    assert_eq!(noise.len(), 512 + 2 * 169);
    // the same seed gives the same noise whatever the thread count
    let first = noise.clone();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        d.run("-stol t.stol -detpixels 13 -pixel 0.1 -distance 20 -seed 5 -oversample 2")
            .0
    })
    .unwrap();
    assert_eq!(std::fs::read(d.p("noise.img")).unwrap(), first);
    // C's pixel count for the same command
    let (r, log) = d.run("-stol t.stol -detpixels 13 -pixel 0.1 -nonoise -compat");
    r.unwrap();
    assert!(log.contains("(14x14 pixels)"), "{log}");
}

/// The PGM holds exactly W·H bytes after its header (NB1), and `-nopgm` is honoured.
#[test]
fn pgm_size_and_nopgm() {
    let d = Dir::new();
    d.run("-stol t.stol -detpixels 7 -pgmscale 3 -nonoise")
        .0
        .unwrap();
    let pgm = std::fs::read(d.p("image.pgm")).unwrap();
    assert_eq!(pgm.len(), crate::io::pgm::pgm_header(7, 7, 3.0).len() + 49);
    std::fs::remove_file(d.p("image.pgm")).unwrap();
    d.run("-stol t.stol -detpixels 7 -nonoise -nopgm")
        .0
        .unwrap();
    assert!(!d.p("image.pgm").exists());
    d.run("-stol t.stol -detpixels 7 -nonoise -nopgm -compat")
        .0
        .unwrap();
    assert!(d.p("image.pgm").exists());
}

#[test]
fn usage_errors() {
    let d = Dir::new();
    let cases = [
        ("-detpixels 8", "-stol"),
        ("-stol t.stol -lambda 0", "-lambda"),
        ("-stol t.stol -energy -5", "-lambda"),
        ("-stol t.stol -pixel 0", "-pixel"),
        ("-stol t.stol -dispstep 3", "did you mean -dispsteps"),
        ("-stol t.stol -flux 1e12 -beamsize 0", "-beamsize"),
        ("-stol t.stol -oversample 20000", "-oversample"),
        ("-stol t.stol -divsteps 2000 -divergence 1", "-divsteps"),
        (
            "-stol t.stol -hdivrange 1e300 -hdivstep 1e-300",
            "-divsteps",
        ),
        ("-stol t.stol stray", "unexpected argument"),
        ("-stol t.stol -detpixels 100000000", "too many"),
    ];
    for (line, needle) in cases {
        let (r, _) = d.run(line);
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{line}: {e}");
        assert!(e.to_string().contains(needle), "{line}: {e}");
    }
    assert!(!d.p("float.bin").exists(), "no output after an error");
}

#[test]
fn malformed_tables_name_file_and_line() {
    let d = Dir::new();
    let cases: [(&str, &str); 5] = [
        (
            "0 1\n0.1 2\n0.05 3\n",
            ":3: abscissa 0.05 is not above 0.1 on line 2",
        ),
        ("0 1\n\n0.1 two\n", ":3: column 2 is not a number: \"two\""),
        ("0 1 2\n", ":1: more than 2 columns"),
        ("", "no data in the table"),
        ("0\n0.1\n", "no F value"),
    ];
    for (text, needle) in cases {
        std::fs::write(d.p("bad.stol"), text).unwrap();
        let e = d.run("-stol bad.stol -detpixels 4").0.unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let msg = e.to_string();
        assert!(
            msg.contains("bad.stol") && msg.contains(needle),
            "{text:?}: {msg}"
        );
    }
    // C reads the unsorted table; its walk is serial and path dependent, but defined
    std::fs::write(d.p("bad.stol"), "0 1\n0.1 2\n0.05 3\n0.3 1\n").unwrap();
    d.run("-stol bad.stol -detpixels 4 -nonoise -compat")
        .0
        .unwrap();
    assert!(d.floats("float.bin").iter().all(|v| v.is_finite()));
    // a missing file
    let e = d.run("-stol nothing.stol -detpixels 4").0.unwrap_err();
    assert!(e.to_string().contains("nothing.stol"), "{e}");
}

#[test]
fn source_files() {
    let d = Dir::new();
    std::fs::write(
        d.p("s.txt"),
        "# X Y Z w lambda\n-10 0 0 1 1e-10\n-10 0.01 0 0.5\n",
    )
    .unwrap();
    let (r, log) = d.run("-stol t.stol -sourcefile s.txt -detpixels 5 -nonoise");
    r.unwrap();
    assert!(
        log.contains(
            "  created a total of 2 sources:\n-10 0 0   1 1e-10\n-10 0.01 0   0.5 1e-10\n"
        ),
        "{log}"
    );
    assert!(log.contains("  -1 divergence steps"));
    std::fs::write(d.p("s.txt"), "-10 0 0 1 -1e-10\n").unwrap();
    let e = d
        .run("-stol t.stol -sourcefile s.txt -detpixels 5")
        .0
        .unwrap_err();
    assert!(e.to_string().contains("must be positive"), "{e}");
    std::fs::write(d.p("s.txt"), "-10 0 0 x\n").unwrap();
    let e = d
        .run("-stol t.stol -sourcefile s.txt -detpixels 5")
        .0
        .unwrap_err();
    assert!(e.to_string().contains("s.txt:1:"), "{e}");
    // NB17 under -compat: the last line without newline reads λ as 0 (C's image is NaN)
    std::fs::write(d.p("s.txt"), "-10 0 0 1 1e-10\n-10 0 0").unwrap();
    let (r, log) = d.run("-stol t.stol -sourcefile s.txt -detpixels 5 -nonoise -compat");
    r.unwrap();
    assert!(log.contains("-10 0 0   0 0\n"), "{log}");
}

/// The inverse mode on an image made by the forward mode gives F back.
#[test]
fn inverse_mode_recovers_f() {
    let d = Dir::new();
    let table: String = (0..=300)
        .map(|k| format!("{} {}\n", k as f64 * 0.002, 2.0 + (k as f64 * 0.01).sin()))
        .collect();
    std::fs::write(d.p("fine.stol"), table).unwrap();
    d.run("-stol fine.stol -detpixels 64 -distance 30 -fluence 1e21 -scale 1 -adc 0 -nonoise")
        .0
        .unwrap();
    std::fs::rename(d.p("int.img"), d.p("obs.img")).unwrap();
    let (r, log) = d.run("-stol fine.stol -img obs.img -fluence 1e21 -adc 0 -nonoise -ignore 0");
    r.unwrap();
    assert!(log.starts_with("reading "), "{log}");
    let text = std::fs::read_to_string(d.p("output.stol")).unwrap();
    assert!(!text.is_empty());
    for l in text.lines() {
        let w: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
        let f = 2.0 + (w[0] * 5.0).sin();
        assert!((w[1] / f - 1.0).abs() < 0.01, "{l}: F {f}");
        assert!(w[5] > 100.0);
    }
    // a wrong size or a file that is not SMV
    let e = d
        .run("-stol fine.stol -img obs.img -detpixels 10")
        .0
        .unwrap_err();
    assert!(e.to_string().contains("64x64"), "{e}");
    std::fs::write(d.p("junk.img"), b"P5\n").unwrap();
    let e = d.run("-stol fine.stol -img junk.img").0.unwrap_err();
    assert!(e.to_string().contains("junk.img"), "{e}");
}

#[test]
fn help_lists_the_options() {
    let mut out = Vec::new();
    main(&["-help".to_string()], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for name in [
        "-stol",
        "-4stol",
        "-Q",
        "-sample_den",
        "-molecular",
        "-Fmap",
        "-img",
        "-compat",
    ] {
        assert!(text.contains(name), "{name}");
    }
}

#[test]
fn printout_of_one_pixel() {
    let d = Dir::new();
    let (r, log) = d.run("-stol t.stol -detpixels 5 -nonoise -printout_pixel 2 3");
    r.unwrap();
    assert!(log.contains("   2    3 : stol = "), "{log}");
    assert!(log.contains("\npixel   "), "{log}");
    assert_eq!(log.matches(" : stol = ").count(), 1);
}

#[test]
fn pixel_counts() {
    assert_eq!(pixel_count(128.00000000000003, false), Some(128));
    assert_eq!(pixel_count(128.00000000000003, true), Some(129));
    assert_eq!(pixel_count(127.2, false), Some(128));
    assert_eq!(pixel_count(0.0, false), None);
    assert_eq!(pixel_count(f64::INFINITY, false), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// No table file makes the reader panic, in either mode.
    #[test]
    fn garbage_tables_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), compat in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let p: &Path = &dir.path().join("g.stol");
        std::fs::write(p, &bytes).unwrap();
        if let Ok(t) = StolTable::read(p, TableUnit::Stol, compat) {
            for s in [0.0, 1e9, -1.0, f64::NAN, 1e300] {
                let _ = t.interpolate(s);
                let mut n = 0;
                let _ = t.interpolate_c(&mut n, s);
            }
        }
    }

    /// Text made of numbers and separators: the strict reader either accepts it with the
    /// rows C reads, or names a line.
    #[test]
    fn strict_and_c_readers_agree_on_clean_files(
        rows in proptest::collection::vec((0.0f64..10.0, prop::option::of(-5.0f64..5.0), 0usize..3), 1..20)
    ) {
        let seps = [" ", "\t", ", "];
        let mut text = String::new();
        let mut x = 0.0;
        for (dx, f, sep) in &rows {
            x += dx + 1e-3;
            match f {
                Some(f) => text += &format!("{x}{}{f}\n", seps[*sep]),
                None => text += &format!("{x}\n"),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let p: &Path = &dir.path().join("c.stol");
        std::fs::write(p, &text).unwrap();
        let strict = StolTable::read(p, TableUnit::Stol, false);
        let c = StolTable::read(p, TableUnit::Stol, true);
        prop_assert_eq!(strict.is_ok(), c.is_ok());
        if let (Ok(a), Ok(b)) = (strict, c) {
            prop_assert_eq!(a.nodes(), b.nodes());
            for i in 0..a.nodes() {
                prop_assert_eq!(a.node(i), b.node(i));
            }
        }
    }
}
