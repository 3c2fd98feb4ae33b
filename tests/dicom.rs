//! DICOM input: files written by the tests' own writer (`common/dicom.rs`, from the standard,
//! independent of the reader) are read with the pixels a viewer would show and the spacing
//! in mm; malformed ones are refused with a message, never a panic. The command line detects
//! on a DICOM file and reports its spacing.

mod common;

use std::io::Cursor;
use std::process::Command;

use cc2d::Error;
use cc2d::io::image::{decode, decode_with_spacing};
use common::dicom::{DicomImage, Pixels};
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma};

fn ramp16(columns: u16, rows: u16, scale: u32) -> Vec<u16> {
    (0..u32::from(columns) * u32::from(rows)).map(|i| ((i * scale) % 4096) as u16).collect()
}

fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst <= tolerance, "pixels differ by up to {worst}");
}

/// 12 bits in 16, MONOCHROME2, no window: the image's own range maps to [0, 1];
/// PixelSpacing gives the spacing.
#[test]
fn uncompressed_16_bit_without_a_window_spans_its_own_range() {
    let values = ramp16(40, 30, 37);
    let file = DicomImage { bits_stored: 12, pixel_spacing: Some("0.1\\0.1"), ..DicomImage::native16(40, 30, &values) };
    let (image, spacing) = decode_with_spacing(&file.to_bytes(), "ramp.dcm").unwrap();
    assert_eq!((image.width, image.height, spacing), (40, 30, Some(0.1)));
    let (lo, hi) = (*values.iter().min().unwrap() as f32, *values.iter().max().unwrap() as f32);
    let expected: Vec<f32> = values.iter().map(|&v| (v as f32 - lo) / (hi - lo)).collect();
    assert_close(&image.pixels, &expected, 1e-6);
}

/// The modality rescale, then DICOM's linear VOI window, clipped to [0, 1].
#[test]
fn rescale_then_window() {
    let values = ramp16(32, 32, 61);
    let file = DicomImage { rescale: Some((2.0, -100.0)), window: Some((3000.0, 2000.0)), ..DicomImage::native16(32, 32, &values) };
    let image = decode(&file.to_bytes(), "windowed.dcm").unwrap();
    let (low, high) = (3000.0 - 0.5 - 999.5, 3000.0 - 0.5 + 999.5);
    let expected: Vec<f32> = values.iter().map(|&v| ((2.0 * f64::from(v) - 100.0 - low) / (high - low)).clamp(0.0, 1.0) as f32).collect();
    assert_close(&image.pixels, &expected, 1e-6);
    assert!(image.pixels.contains(&0.0) && image.pixels.contains(&1.0), "the window clips at both ends");
}

/// MONOCHROME1 (bright = less attenuation) is inverted; implicit VR; 8 bits;
/// ImagerPixelSpacing when PixelSpacing is absent, the mean of an anisotropic pair.
#[test]
fn monochrome1_implicit_vr_8_bit_and_imager_spacing() {
    let values: Vec<u8> = (0..24 * 20).map(|i| (i * 7 % 251) as u8).collect();
    let file = DicomImage { photometric: "MONOCHROME1", implicit_vr: true, imager_pixel_spacing: Some("0.1\\0.12"), ..DicomImage::native8(24, 20, &values) };
    let (image, spacing) = decode_with_spacing(&file.to_bytes(), "mono1.dcm").unwrap();
    assert!((spacing.unwrap() - 0.11).abs() < 1e-12);
    let (lo, hi) = (*values.iter().min().unwrap() as f32, *values.iter().max().unwrap() as f32);
    let expected: Vec<f32> = values.iter().map(|&v| 1.0 - (v as f32 - lo) / (hi - lo)).collect();
    assert_close(&image.pixels, &expected, 1e-6);
    // Both spacings: PixelSpacing wins.
    let both = DicomImage { pixel_spacing: Some("0.2\\0.2"), ..file };
    assert_eq!(decode_with_spacing(&both.to_bytes(), "both.dcm").unwrap().1, Some(0.2));
}

/// Signed 12-bit values in 16 bits: two's complement within the stored bits.
#[test]
fn signed_values_within_the_stored_bits() {
    // -1, 0, 2047, -2048 as 12-bit two's complement.
    let raw = [0x0FFF_u16, 0, 0x07FF, 0x0800];
    let file = DicomImage { bits_stored: 12, signed: true, ..DicomImage::native16(4, 1, &raw) };
    let image = decode(&file.to_bytes(), "signed.dcm").unwrap();
    let expected = [-1.0_f32, 0.0, 2047.0, -2048.0].map(|v| (v + 2048.0) / 4095.0);
    assert_close(&image.pixels, &expected, 1e-6);
}

/// JPEG baseline in DICOM: the same pixels as the JPEG file itself.
#[test]
fn jpeg_baseline_equals_the_jpeg_itself() {
    let img: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_fn(64, 48, |x, y| Luma([((x * 5 + y * 3) % 256) as u8]));
    let mut jpeg = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(img).write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let file = DicomImage { pixel_spacing: Some("0.1\\0.1"), ..DicomImage::jpeg(64, 48, jpeg.clone()) };
    let (image, spacing) = decode_with_spacing(&file.to_bytes(), "jpeg.dcm").unwrap();
    let plain = decode(&jpeg, "plain.jpg").unwrap();
    // The JPEG's own 0–255 values span its range: compare after the same min–max stretch.
    let (lo, hi) = plain.pixels.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_close(&image.pixels, &plain.pixels.iter().map(|v| (v - lo) / (hi - lo)).collect::<Vec<_>>(), 1e-5);
    assert_eq!(spacing, Some(0.1));
}

/// Malformed or unsupported files: a clear error naming the file and the problem, no panic,
/// and a huge declared size refused before its pixels are read.
#[test]
fn malformed_and_unsupported_files_are_refused_by_name() {
    let good = DicomImage { pixel_spacing: Some("0.1\\0.1"), ..DicomImage::native16(40, 30, &ramp16(40, 30, 37)) };
    let bytes = good.to_bytes();
    let message = |bytes: &[u8]| decode(bytes, "case.dcm").unwrap_err().to_string();

    for cut in [140, 200, 300, bytes.len() - 100] {
        let m = message(&bytes[..cut]);
        assert!(m.starts_with("case.dcm: ") && m.len() > 20, "cut at {cut}: {m}");
    }
    assert!(message(&bytes[..bytes.len() - 100]).contains("not a readable DICOM file"), "{}", message(&bytes[..bytes.len() - 100]));
    // Whole elements, but fewer pixels than the header's rows × columns.
    let short = DicomImage { rows: 31, ..good.clone() };
    assert!(message(&short.to_bytes()).contains("2400 bytes of pixel data for 40×31 pixels of 16 bits"), "{}", message(&short.to_bytes()));

    let huge = DicomImage { rows: 20_000, ..good.clone() };
    assert!(matches!(decode(&huge.to_bytes(), "huge.dcm"), Err(Error::ImageSize { width: 40, height: 20_000, .. })));
    let empty = DicomImage { rows: 0, ..good.clone() };
    assert!(matches!(decode(&empty.to_bytes(), "empty.dcm"), Err(Error::ImageSize { .. })));
    let colour = DicomImage { photometric: "RGB", ..good.clone() };
    assert!(message(&colour.to_bytes()).contains("photometric interpretation RGB is not accepted"));
    let twelve = DicomImage { bits_allocated: 12, bits_stored: 12, ..good.clone() };
    assert!(message(&twelve.to_bytes()).contains("12 bits allocated"));
    let not_a_jpeg = DicomImage::jpeg(40, 30, b"\xFF\xD8 not a JPEG".to_vec());
    assert!(message(&not_a_jpeg.to_bytes()).contains("JPEG pixel data"));
    let wrong_size = DicomImage { rows: 31, ..DicomImage::jpeg(40, 30, encoded_jpeg(40, 30)) };
    assert!(message(&wrong_size.to_bytes()).contains("JPEG pixel data is 40×30, the header says 40×31"));
    // Another transfer syntax (JPEG 2000) is named.
    let mut j2k = DicomImage::jpeg(40, 30, encoded_jpeg(40, 30)).to_bytes();
    let at = j2k.windows(22).position(|w| w == b"1.2.840.10008.1.2.4.50").unwrap();
    j2k[at..at + 22].copy_from_slice(b"1.2.840.10008.1.2.4.90");
    assert!(message(&j2k).contains("transfer syntax 1.2.840.10008.1.2.4.90 is not accepted"), "{}", message(&j2k));
    // No pixel data at all.
    let Pixels::Native(pixels) = &good.pixels else { unreachable!() };
    let without = &bytes[..bytes.len() - pixels.len() - 12];
    assert!(message(without).contains("no pixel data"), "{}", message(without));
}

fn encoded_jpeg(width: u32, height: u32) -> Vec<u8> {
    let img: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_fn(width, height, |x, y| Luma([((x * 9 + y * 4) % 256) as u8]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(img).write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// `cc2d detect` on a DICOM file named on the command line: the detections JSON carries the
/// file's spacing.
#[test]
fn the_command_line_detects_on_a_dicom_file_and_reports_its_spacing() {
    let scratch = tempfile::Builder::new().prefix("cc2d-dicom-cli-").tempdir().unwrap();
    let dir = scratch.path();
    let values: Vec<u16> = (0..300u32 * 240).map(|i| (((i % 300) as f32 * 0.05).sin() * ((i / 300) as f32 * 0.07).cos() * 1500.0 + 2000.0) as u16).collect();
    let file = DicomImage { pixel_spacing: Some("0.1\\0.1"), ..DicomImage::native16(300, 240, &values) };
    std::fs::write(dir.join("scan.dcm"), file.to_bytes()).unwrap();
    let o =
        Command::new(env!("CARGO_BIN_EXE_cc2d")).current_dir(dir).env_remove("CC2D_DATA").args(["detect", "scan.dcm", "-o", "found.csv", "--json", "found.json"]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("found.json")).unwrap()).unwrap();
    assert_eq!(json[0]["spacing_mm"], 0.1);
    assert_eq!((json[0]["width"].as_u64(), json[0]["landmarks"].as_array().map(Vec::len)), (Some(300), Some(19)));
}
