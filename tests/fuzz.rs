//! Inputs that must not break cc2d: a mutation fuzzer over every parser a page or a batch run
//! feeds with outside data (image decoders, template JSON, predictions CSV, ISBI txt,
//! weights). In wasm a Rust panic poisons the instance for good, so each mutated input must
//! give `Ok` or a clean `Err`, never a panic. Time-bounded: `CC2D_FUZZ_ITERATIONS` per target
//! (default 2,000; CI runs the default). Seeds are made here (synthetic images, the shipped
//! weights); any input that once broke a parser is kept in `tests/fuzz-corpus/` and replayed.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use cc2d::config::Preset;
use cc2d::io::image::decode;
use cc2d::io::landmarks::{Predictions, Template, parse_isbi_txt};
use cc2d::tpl::detect::TplDetector;

mod common;
use common::dicom::DicomImage;

fn iterations() -> usize {
    std::env::var("CC2D_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// One mutation: flip bits, overwrite, insert or delete a run of bytes, or cut the input short.
fn mutate(seed: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        if out.is_empty() {
            out.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..out.len());
        match rng.random_range(0..5) {
            0 => out[at] ^= 1 << rng.random_range(0..8),
            1 => {
                let n = rng.random_range(1..16).min(out.len() - at);
                for b in &mut out[at..at + n] {
                    *b = rng.random();
                }
            }
            2 => {
                let run: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
                out.splice(at..at, run);
            }
            3 => {
                let n = rng.random_range(1..64).min(out.len() - at);
                out.drain(at..at + n);
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// Runs `parse` on `iterations()` mutations of each seed and on the committed corpus; fails
/// naming the first input that panicked (and writes it next to the corpus to keep).
fn fuzz(target: &str, seeds: &[Vec<u8>], parse: impl Fn(&[u8])) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus").join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&corpus).map(|d| d.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect()).unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(2026);
    for seed in seeds {
        inputs.push(seed.clone());
        inputs.extend((0..iterations()).map(|_| mutate(seed, &mut rng)));
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failed = inputs.iter().find(|input| catch_unwind(AssertUnwindSafe(|| parse(input))).is_err()).cloned();
    std::panic::set_hook(hook);
    if let Some(input) = failed {
        let path = std::env::temp_dir().join(format!("cc2d-fuzz-{target}-{}.bin", std::process::id()));
        std::fs::write(&path, &input).unwrap();
        panic!("{target}: a {}-byte input panicked (saved to {}; add it to tests/fuzz-corpus/{target}/)", input.len(), path.display());
    }
    println!("{target}: {} inputs, no panic", inputs.len());
}

fn encoded(format: ImageFormat, sixteen_bit: bool) -> Vec<u8> {
    let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(48, 40, |x, y| Luma([((x * 1301 + y * 977) % 65536) as u16]));
    let img = if sixteen_bit { DynamicImage::ImageLuma16(img) } else { DynamicImage::ImageLuma8(DynamicImage::ImageLuma16(img).to_luma8()) };
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

#[test]
fn image_decoders_never_panic() {
    let seeds = vec![
        encoded(ImageFormat::Png, false),
        encoded(ImageFormat::Png, true),
        encoded(ImageFormat::Jpeg, false),
        encoded(ImageFormat::Bmp, false),
        encoded(ImageFormat::Tiff, false),
        encoded(ImageFormat::Tiff, true),
        // DICOM: 16-bit explicit VR with spacing, rescale and window; 8-bit implicit VR
        // MONOCHROME1; a JPEG baseline frame.
        DicomImage {
            pixel_spacing: Some("0.1\\0.1"),
            rescale: Some((2.0, -10.0)),
            window: Some((900.0, 600.0)),
            ..DicomImage::native16(24, 20, &(0..480).map(|i| (i * 37 % 4096) as u16).collect::<Vec<_>>())
        }
        .to_bytes(),
        DicomImage { photometric: "MONOCHROME1", implicit_vr: true, ..DicomImage::native8(24, 20, &(0..480).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>()) }.to_bytes(),
        DicomImage::jpeg(48, 40, encoded(ImageFormat::Jpeg, false)).to_bytes(),
    ];
    fuzz("image", &seeds, |bytes| {
        let _ = decode(bytes, "fuzz");
    });
}

#[test]
fn template_and_landmark_parsers_never_panic() {
    let template = br#"{ "image": "001.jpg", "width": 1935, "height": 2400, "spacing_mm": 0.1,
        "landmarks": [ { "name": "sella", "x": 835.0, "y": 996.0 }, { "name": "nasion", "x": 1473.5, "y": 1029.0 } ] }"#;
    fuzz("template", &[template.to_vec()], |bytes| {
        let _ = Template::from_json(&String::from_utf8_lossy(bytes), "fuzz.json");
    });
    fuzz("predictions", &[b"id,x1,y1,x2,y2\n151,843.5,1027.3,1428.2,1010.0\n152.jpg,800,990,1400,1000\n".to_vec()], |bytes| {
        let _ = Predictions::parse_csv(&String::from_utf8_lossy(bytes), "fuzz.csv");
    });
    fuzz("isbi-txt", &[b"835,996\n1473,1029\n1289,1279\n".to_vec()], |bytes| {
        let _ = parse_isbi_txt(&String::from_utf8_lossy(bytes), 3, "fuzz.txt");
    });
}

#[test]
fn the_weights_loader_never_panics() {
    let weights = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/tpl-small.bpk")).unwrap();
    let device = burn::tensor::Device::flex();
    // Mutate the header and metadata (the first 4 KB), keep the tensors after them: what
    // the loader parses before it trusts any offset.
    let (head, tail) = weights.split_at(weights.len().min(4096));
    fuzz("weights", &[head.to_vec()], |head| {
        let bytes = [head, tail].concat();
        let _ = TplDetector::from_bytes(bytes, "fuzz.bpk", Preset::Small, Some(19), &device);
    });
}

/// The harness itself: an input that panics is caught, saved and reported.
#[test]
fn the_fuzzer_reports_an_input_that_panics() {
    let caught = catch_unwind(|| {
        fuzz("selftest", &[b"ok".to_vec()], |bytes| assert!(bytes.len() != 1, "a parser bug"));
    });
    let message = *caught.expect_err("a panicking parser is reported").downcast::<String>().unwrap();
    assert!(message.contains("selftest: a 1-byte input panicked"), "{message}");
    // The input was kept where the message says; this one is not worth keeping.
    let saved = message.split("saved to ").nth(1).and_then(|rest| rest.split(';').next()).expect("the message names the saved input");
    assert_eq!(std::fs::read(saved).unwrap().len(), 1);
    std::fs::remove_file(saved).unwrap();
}
