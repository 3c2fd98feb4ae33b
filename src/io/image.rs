//! Radiograph decoding: PNG, JPEG, BMP and TIFF, 8- or 16-bit, grey or RGB, and DICOM
//! ([`crate::io::dicom`]), into one grey `f32` image with values in [0, 1]. Everything
//! downstream sees only [`GreyImage`] (and, from DICOM, the pixel spacing).

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, ImageReader, Limits};

use crate::error::{Error, Result};
use crate::io::dicom;

/// Largest accepted side, in pixels. Radiographs are at most a few thousand pixels a side;
/// anything larger is almost certainly a mistake and would exhaust a browser tab's memory.
pub const MAX_SIDE: u32 = 16_384;

/// A decoded grey image, row-major, values in [0, 1].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GreyImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<f32>,
}

impl GreyImage {
    pub fn new(width: u32, height: u32, pixels: Vec<f32>) -> Result<Self> {
        if pixels.len() != width as usize * height as usize {
            return Err(Error::Invalid(format!("image buffer holds {} values, {width}×{height} needs {}", pixels.len(), width as usize * height as usize)));
        }
        check_size("image", width, height)?;
        Ok(Self { width, height, pixels })
    }

    #[inline]
    pub fn at(&self, x: u32, y: u32) -> f32 {
        self.pixels[y as usize * self.width as usize + x as usize]
    }
}

const SUPPORTED: [ImageFormat; 4] = [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Bmp, ImageFormat::Tiff];

/// Refuses a side of 0 or above [`MAX_SIDE`], naming the source (before any pixel is allocated).
pub(crate) fn check_size(source_name: &str, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::ImageSize { source_name: source_name.to_string(), width: width.into(), height: height.into(), max: MAX_SIDE });
    }
    Ok(())
}

/// Decodes an encoded image held in memory, with its pixel spacing in mm where the file
/// carries one (DICOM). `source_name` (a file name or a label) is used in error messages only.
pub fn decode_with_spacing(bytes: &[u8], source_name: &str) -> Result<(GreyImage, Option<f64>)> {
    if dicom::is_dicom(bytes) { dicom::decode(bytes, source_name) } else { decode_picture(bytes, source_name).map(|image| (image, None)) }
}

/// Decodes an encoded image held in memory (see [`decode_with_spacing`]).
pub fn decode(bytes: &[u8], source_name: &str) -> Result<GreyImage> {
    decode_with_spacing(bytes, source_name).map(|(image, _)| image)
}

/// PNG, JPEG, BMP or TIFF.
fn decode_picture(bytes: &[u8], source_name: &str) -> Result<GreyImage> {
    let unsupported = |reason: String| Error::UnsupportedImage { source_name: source_name.into(), reason };
    let corrupt = |e: image::ImageError| Error::CorruptImage { source_name: source_name.into(), reason: e.to_string() };

    if bytes.is_empty() {
        return Err(unsupported("the file is empty".into()));
    }
    let format = image::guess_format(bytes).map_err(|_| unsupported("unrecognised file signature".into()))?;
    if !SUPPORTED.contains(&format) {
        return Err(unsupported(format!("{format:?} is not accepted")));
    }
    // Read the header first so that a huge or empty image is refused before any allocation.
    // (No limits on this read: the decoders' own memory limit would otherwise refuse a huge
    // image with a vaguer message than ours.)
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.no_limits();
    let (width, height) = header.into_dimensions().map_err(|e| match e {
        // A 32-bit platform (wasm) cannot even describe some sizes: still a size problem.
        image::ImageError::Limits(_) => {
            Error::UnsupportedImage { source_name: source_name.to_string(), reason: format!("too large for this platform's memory; sides must be between 1 and {MAX_SIDE} pixels") }
        }
        e => corrupt(e),
    })?;
    check_size(source_name, width, height)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(4 * u64::from(MAX_SIDE) * u64::from(MAX_SIDE));
    reader.limits(limits);
    let decoded = if format == ImageFormat::Jpeg {
        decode_jpeg_strictly(bytes).map_err(|reason| Error::CorruptImage { source_name: source_name.into(), reason })?
    } else {
        reader.decode().map_err(corrupt)?
    };
    let grey = decoded.to_luma32f();
    GreyImage::new(width, height, grey.into_raw())
}

/// A JPEG through zune-jpeg in strict mode. `image` decodes JPEGs leniently, as browsers do:
/// a file cut short becomes a picture padded with grey, in which a detector would happily
/// place every landmark; a radiograph must be whole or refused. A YCbCr file (most JPEGs,
/// radiographs saved as colour among them) is decoded to its Y plane, which is its grey
/// image: the chroma planes are never upsampled or converted (half the decoding time of an
/// ISBI radiograph), and for a grey picture Y is exactly what `image`'s RGB-to-grey gives.
/// Other colour spaces are decoded as `image` asks for them.
fn decode_jpeg_strictly(bytes: &[u8]) -> std::result::Result<image::DynamicImage, String> {
    use image::{DynamicImage, ImageBuffer};
    use zune_core::colorspace::ColorSpace;
    let side = MAX_SIDE as usize;
    let options = zune_core::options::DecoderOptions::default().set_strict_mode(true).set_max_width(side).set_max_height(side);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let (Some((width, height)), Some(input)) = (decoder.dimensions(), decoder.input_colorspace()) else { return Err("no image header".into()) };
    let output = match input {
        ColorSpace::YCbCr | ColorSpace::Luma => ColorSpace::Luma,
        ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::LumaA => input,
        _ => ColorSpace::RGB,
    };
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(output));
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let channels = match output {
        ColorSpace::Luma => 1,
        ColorSpace::LumaA => 2,
        ColorSpace::RGBA => 4,
        _ => 3,
    };
    if pixels.len() != width * height * channels {
        return Err(format!("{} bytes of pixels for a {width}×{height} image", pixels.len()));
    }
    let (w, h) = (width as u32, height as u32);
    let whole = "length checked above";
    Ok(match output {
        ColorSpace::Luma => DynamicImage::ImageLuma8(ImageBuffer::from_raw(w, h, pixels).expect(whole)),
        ColorSpace::LumaA => DynamicImage::ImageLumaA8(ImageBuffer::from_raw(w, h, pixels).expect(whole)),
        ColorSpace::RGBA => DynamicImage::ImageRgba8(ImageBuffer::from_raw(w, h, pixels).expect(whole)),
        _ => DynamicImage::ImageRgb8(ImageBuffer::from_raw(w, h, pixels).expect(whole)),
    })
}

/// An 8-bit grey JPEG (e.g. a DICOM file's encapsulated frame), strictly: width, height,
/// pixels.
pub(crate) fn decode_jpeg_luma_strictly(bytes: &[u8]) -> std::result::Result<(u32, u32, Vec<u8>), String> {
    let image = decode_jpeg_strictly(bytes)?;
    Ok((image.width(), image.height(), image.into_luma8().into_raw()))
}

/// Takes RGBA pixels, 8 bits each (a canvas's `ImageData`), to grey as [`decode`] does.
pub fn from_rgba8(width: u32, height: u32, rgba: &[u8], source_name: &str) -> Result<GreyImage> {
    check_size(source_name, width, height)?;
    let expected = 4 * width as usize * height as usize;
    if rgba.len() != expected {
        return Err(Error::Invalid(format!("{source_name}: {width}×{height} RGBA pixels need {expected} bytes, got {}", rgba.len())));
    }
    // Grey as `image` makes it (Rec. 709 weights; its colour-managed conversion agrees to
    // 1e-4, and exactly up to float rounding on grey pixels), in one pass over the canvas's
    // bytes instead of through a copy of them and that conversion.
    let grey = |p: &[u8]| (0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2])) / 255.0;
    GreyImage::new(width, height, rgba.chunks_exact(4).map(grey).collect())
}

/// Reads and decodes an image file.
pub fn load(path: &Path) -> Result<GreyImage> {
    load_with_spacing(path).map(|(image, _)| image)
}

/// Reads and decodes an image file, with its pixel spacing where the file carries one.
pub fn load_with_spacing(path: &Path) -> Result<(GreyImage, Option<f64>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_with_spacing(&bytes, &path.display().to_string())
}

/// Writes a grey image as an 8-bit PNG (values in [0, 1], rounded).
pub fn save_png(path: &Path, img: &GreyImage) -> Result<()> {
    let bytes: Vec<u8> = img.pixels.iter().map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
    image::save_buffer_with_format(path, &bytes, img.width, img.height, image::ExtendedColorType::L8, ImageFormat::Png)
        .map_err(|e| Error::Invalid(format!("{}: cannot write the PNG: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb};

    fn encode<P: image::PixelWithColorType>(img: &ImageBuffer<P, Vec<P::Subpixel>>, format: ImageFormat) -> Vec<u8>
    where
        [P::Subpixel]: image::EncodableLayout,
    {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn ramp8() -> ImageBuffer<Luma<u8>, Vec<u8>> {
        ImageBuffer::from_fn(7, 5, |x, y| Luma([(x * 30 + y * 5) as u8]))
    }

    #[test]
    fn decodes_every_supported_format_to_the_same_grey_values() {
        let src = ramp8();
        for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Tiff] {
            let img = decode(&encode(&src, format), "ramp").unwrap();
            assert_eq!((img.width, img.height), (7, 5), "{format:?}");
            for (x, y, p) in src.enumerate_pixels() {
                assert!((img.at(x, y) - p[0] as f32 / 255.0).abs() < 1e-6, "{format:?} at {x},{y}");
            }
        }
        // JPEG is lossy: close, not equal.
        let img = decode(&encode(&src, ImageFormat::Jpeg), "ramp.jpg").unwrap();
        assert_eq!((img.width, img.height), (7, 5));
        assert!(img.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    /// A JPEG cut short is refused (the lenient decoder would pad it with grey). A whole grey
    /// picture saved in colour (YCbCr, as most radiograph JPEGs are) gives the pixels
    /// `image`'s own decoding gives; a colourful one its Y plane, close to `image`'s grey
    /// (the two differ only in how they weigh red, green and blue).
    #[test]
    fn a_truncated_jpeg_is_refused_and_a_whole_one_decodes_as_image_does() {
        let lenient = |jpeg: &[u8]| image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap().to_luma32f().into_raw();
        let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        let grey: ImageBuffer<Rgb<u8>, Vec<u8>> = ImageBuffer::from_fn(160, 120, |x, y| {
            let v = ((x * 3 + y * 5) % 256) as u8;
            Rgb([v, v, v])
        });
        let jpeg = encode(&grey, ImageFormat::Jpeg);
        let whole = decode(&jpeg, "whole.jpg").unwrap();
        assert!(max_diff(&whole.pixels, &lenient(&jpeg)) < 1e-6);
        let colour: ImageBuffer<Rgb<u8>, Vec<u8>> = ImageBuffer::from_fn(160, 120, |x, y| Rgb([(x * 3 % 256) as u8, (y * 5 % 256) as u8, ((x ^ y) % 256) as u8]));
        let jpeg = encode(&colour, ImageFormat::Jpeg);
        let (ours, theirs) = (decode(&jpeg, "colour.jpg").unwrap().pixels, lenient(&jpeg));
        assert_eq!(ours.len(), theirs.len());
        let mean_diff = ours.iter().zip(&theirs).map(|(x, y)| (x - y).abs()).sum::<f32>() / ours.len() as f32;
        assert!(mean_diff > 1e-3 && mean_diff < 0.05 && max_diff(&ours, &theirs) < 0.25, "{mean_diff}");
        let cut = &jpeg[..jpeg.len() / 2];
        assert!(image::load_from_memory_with_format(cut, ImageFormat::Jpeg).is_ok(), "the lenient decoder accepts the cut file");
        let e = decode(cut, "cut.jpg").unwrap_err().to_string();
        assert!(e.starts_with("cut.jpg: corrupt or truncated image"), "{e}");
    }

    #[test]
    fn sixteen_bit_and_rgb_are_normalised_to_unit_range() {
        let deep: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(4, 3, |x, _| Luma([x as u16 * 20_000]));
        for format in [ImageFormat::Png, ImageFormat::Tiff] {
            let img = decode(&encode(&deep, format), "deep").unwrap();
            assert!((img.at(3, 1) - 60_000.0 / 65_535.0).abs() < 1e-5, "{format:?}");
        }
        let rgb: ImageBuffer<Rgb<u8>, Vec<u8>> = ImageBuffer::from_pixel(3, 3, Rgb([255, 255, 255]));
        let img = decode(&encode(&rgb, ImageFormat::Png), "white").unwrap();
        assert!(img.pixels.iter().all(|v| (v - 1.0).abs() < 1e-6));
    }

    /// A canvas's pixels in colour give `image`'s own grey of them.
    #[test]
    fn rgba_pixels_give_images_grey_of_them() {
        let mut state = 7u32;
        let rgba: Vec<u8> = (0..4 * 31 * 17)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        let ours = from_rgba8(31, 17, &rgba, "canvas").unwrap().pixels;
        let theirs = image::DynamicImage::ImageRgba8(image::RgbaImage::from_raw(31, 17, rgba).unwrap()).to_luma32f().into_raw();
        let diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(ours.len() == theirs.len() && diff < 1e-4, "{diff}");
    }

    #[test]
    fn rgba_pixels_give_the_grey_values_of_the_same_image_decoded() {
        let src = ramp8();
        let rgba: Vec<u8> = src.pixels().flat_map(|p| [p[0], p[0], p[0], 255]).collect();
        let from_canvas = from_rgba8(7, 5, &rgba, "canvas").unwrap();
        let decoded = decode(&encode(&src, ImageFormat::Png), "ramp").unwrap();
        assert_eq!((from_canvas.width, from_canvas.height), (decoded.width, decoded.height));
        // Grey through RGB weights that sum to 1: equal up to float rounding.
        assert!(from_canvas.pixels.iter().zip(&decoded.pixels).all(|(a, b)| (a - b).abs() < 1e-6));
        let msg = |r: Result<GreyImage>| r.unwrap_err().to_string();
        assert!(msg(from_rgba8(7, 5, &rgba[4..], "short")).contains("need 140 bytes, got 136"));
        assert!(msg(from_rgba8(0, 0, &[], "blank.png")).starts_with("blank.png: image is 0×0"));
    }

    #[test]
    fn refuses_bad_files_with_the_name_and_the_problem() {
        let msg = |r: Result<GreyImage>| r.unwrap_err().to_string();
        let png = encode(&ramp8(), ImageFormat::Png);

        let m = msg(decode(&png[..png.len() / 2], "half.png"));
        assert!(m.starts_with("half.png: corrupt or truncated"), "{m}");
        let m = msg(decode(b"GIF89a\x01\x00\x01\x00", "anim.gif"));
        assert!(m.contains("anim.gif") && m.contains("not a supported image"), "{m}");
        let m = msg(decode(b"hello, world", "notes.txt"));
        assert!(m.contains("notes.txt") && m.contains("unrecognised"), "{m}");
        let m = msg(decode(&[], "empty.png"));
        assert!(m.contains("empty.png") && m.contains("empty"), "{m}");
        let m = msg(load(Path::new("/nonexistent/x.png")));
        assert!(m.contains("/nonexistent/x.png") && m.contains("cannot read"), "{m}");
    }

    /// PNG's chunk checksum (CRC-32, IEEE), to forge a valid header.
    fn crc32(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |crc, &b| (0..8).fold(crc ^ u32::from(b), |c, _| if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 }))
    }

    #[test]
    fn refuses_absurdly_large_images_from_the_header_alone() {
        // A valid BMP header that claims 20000×20000 pixels, with no pixel data behind it:
        // the size check must fire before anything is allocated or decoded.
        let mut bmp = encode(&ImageBuffer::from_pixel(1, 1, Luma([0u8])), ImageFormat::Bmp);
        bmp[18..22].copy_from_slice(&20_000i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&20_000i32.to_le_bytes());
        let m = decode(&bmp, "huge.bmp").unwrap_err().to_string();
        assert!(m.contains("huge.bmp") && m.contains("20000×20000"), "{m}");

        // The same for a PNG (its decoder has a memory limit of its own that must not speak first).
        let mut png = encode(&ImageBuffer::from_pixel(1, 1, Luma([0u8])), ImageFormat::Png);
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let m = decode(&png, "huge.png").unwrap_err().to_string();
        assert!(m.contains("huge.png") && m.contains("100000×100000") && m.contains("16384"), "{m}");

        bmp[18..22].copy_from_slice(&0i32.to_le_bytes());
        let m = decode(&bmp, "flat.bmp").unwrap_err().to_string();
        assert!(m.contains("flat.bmp") && (m.contains("0×20000") || m.contains("corrupt")), "{m}");

        let m = GreyImage::new(0, 0, vec![]).unwrap_err().to_string();
        assert!(m.contains("0×0"), "{m}");
    }
}
