//! DICOM radiographs: the first frame's pixels as a grey image, the way a viewer shows them,
//! and the pixel spacing, so that results come in millimetres.
//!
//! Pixels: the stored values (8 or 16 bit, signed or not, `BitsStored` honoured) → the
//! modality rescale (`RescaleSlope`, `RescaleIntercept`) → the VOI window (`WindowCenter`,
//! `WindowWidth`, the first pair; without one, the image's own minimum to maximum) → [0, 1],
//! inverted for `MONOCHROME1` (where bright means less attenuation). Transfer syntaxes:
//! implicit and explicit VR little endian (uncompressed) and JPEG baseline (8-bit, the
//! first frame's fragments); any other is refused by name.
//!
//! Spacing: `PixelSpacing` (0028,0030), else `ImagerPixelSpacing` (0018,1164) — a
//! cephalostat's detector-plane spacing; the mean of the row and column spacing.
//!
//! Why a reader of our own rather than DICOM-rs: that parser allocates and zero-fills each
//! element's *declared* length before reading it, so a corrupt length field costs up to 4 GB
//! (seconds natively; in a browser tab, memory that wasm never gives back). This reader only
//! walks the elements, borrows slices of the input, and refuses any length that runs past the
//! end of the file; it reads the dozen attributes a radiograph needs and skips the rest.

use crate::error::{Error, Result};
use crate::io::image::{GreyImage, check_size};

type Tag = (u16, u16);

const TRANSFER_SYNTAX: Tag = (0x0002, 0x0010);
const ROWS: Tag = (0x0028, 0x0010);
const COLUMNS: Tag = (0x0028, 0x0011);
const SAMPLES_PER_PIXEL: Tag = (0x0028, 0x0002);
const PHOTOMETRIC: Tag = (0x0028, 0x0004);
const BITS_ALLOCATED: Tag = (0x0028, 0x0100);
const BITS_STORED: Tag = (0x0028, 0x0101);
const PIXEL_REPRESENTATION: Tag = (0x0028, 0x0103);
const PIXEL_SPACING: Tag = (0x0028, 0x0030);
const IMAGER_PIXEL_SPACING: Tag = (0x0018, 0x1164);
const RESCALE_INTERCEPT: Tag = (0x0028, 0x1052);
const RESCALE_SLOPE: Tag = (0x0028, 0x1053);
const WINDOW_CENTER: Tag = (0x0028, 0x1050);
const WINDOW_WIDTH: Tag = (0x0028, 0x1051);
const PIXEL_DATA: Tag = (0x7FE0, 0x0010);
const ITEM: Tag = (0xFFFE, 0xE000);
const ITEM_END: Tag = (0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = (0xFFFE, 0xE0DD);
const UNDEFINED: u32 = u32::MAX;
/// Nested sequences deeper than this are refused (a crafted file cannot exhaust the stack).
const MAX_DEPTH: usize = 16;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

/// A DICOM Part 10 file: 128 bytes of preamble, then `DICM`.
pub fn is_dicom(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// The attributes read from a file: values borrowed from its bytes.
#[derive(Default)]
struct Attributes<'a> {
    found: Vec<(Tag, &'a [u8])>,
    /// Encapsulated pixel data: its fragments (the offset table left out).
    fragments: Option<Vec<&'a [u8]>>,
}

impl<'a> Attributes<'a> {
    fn get(&self, tag: Tag) -> Option<&'a [u8]> {
        self.found.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
    }

    fn text(&self, tag: Tag) -> Option<String> {
        self.get(tag).map(|v| String::from_utf8_lossy(v).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string())
    }

    /// An unsigned short (US), the first value.
    fn short(&self, tag: Tag) -> Option<u16> {
        self.get(tag).filter(|v| v.len() >= 2).map(|v| u16::from_le_bytes([v[0], v[1]]))
    }

    /// The numbers of a decimal string (DS), e.g. `0.1\0.1`.
    fn decimals(&self, tag: Tag) -> Vec<f64> {
        self.text(tag).map(|s| s.split('\\').filter_map(|x| x.trim().parse::<f64>().ok()).filter(|v| v.is_finite()).collect()).unwrap_or_default()
    }
}

/// A cursor over the file that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(format!("an element claims {n} bytes at byte {} but the file has {left} left (truncated?)", self.at));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn u16(&mut self) -> std::result::Result<u16, String> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// One element's header: tag and value length (the VR, in explicit syntaxes, only says
    /// how the length is written).
    fn header(&mut self, explicit: bool) -> std::result::Result<(Tag, u32), String> {
        let tag = (self.u16()?, self.u16()?);
        // Items and delimiters have no VR in any syntax.
        if tag.0 == 0xFFFE || !explicit {
            return Ok((tag, self.u32()?));
        }
        let long = matches!(self.take(2)?, b"OB" | b"OW" | b"OF" | b"OD" | b"OL" | b"OV" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV");
        let length = if long {
            self.take(2)?;
            self.u32()?
        } else {
            u32::from(self.u16()?)
        };
        Ok((tag, length))
    }

    /// Skips a value of undefined length: a sequence's items up to its delimiter (each item
    /// itself of defined or undefined length, holding elements).
    fn skip_undefined(&mut self, explicit: bool, depth: usize) -> std::result::Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("sequences nested more than {MAX_DEPTH} deep"));
        }
        loop {
            let (tag, length) = self.header(explicit)?;
            match tag {
                SEQUENCE_END => return Ok(()),
                ITEM if length == UNDEFINED => {
                    // Elements up to the item's delimiter.
                    loop {
                        let (tag, length) = self.header(explicit)?;
                        if tag == ITEM_END {
                            break;
                        }
                        self.skip_value(explicit, length, depth + 1)?;
                    }
                }
                ITEM => {
                    self.take(length as usize)?;
                }
                (g, e) => return Err(format!("({g:04X},{e:04X}) inside a sequence where an item was expected")),
            }
        }
    }

    /// Skips a value: its bytes, or a sequence of undefined length (SQ or UN in explicit
    /// syntaxes, any sequence in implicit VR).
    fn skip_value(&mut self, explicit: bool, length: u32, depth: usize) -> std::result::Result<(), String> {
        if length == UNDEFINED { self.skip_undefined(explicit, depth) } else { self.take(length as usize).map(|_| ()) }
    }
}

/// Walks the file meta group and the data set, keeping the attributes this module reads.
fn read_attributes(bytes: &[u8]) -> std::result::Result<(String, Attributes<'_>), String> {
    let mut r = Reader { bytes, at: 132 };
    let mut attributes = Attributes::default();
    // The file meta group: explicit VR little endian, group 0002.
    let mut syntax = None;
    while bytes.get(r.at..r.at + 2) == Some(&[0x02, 0x00][..]) {
        let (tag, length) = r.header(true)?;
        if length == UNDEFINED {
            r.skip_value(true, length, 0)?;
            continue;
        }
        let value = r.take(length as usize)?;
        if tag == TRANSFER_SYNTAX {
            syntax = Some(String::from_utf8_lossy(value).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string());
        }
    }
    let syntax = syntax.ok_or("no transfer syntax in the file meta group")?;
    let explicit = match syntax.as_str() {
        IMPLICIT_LE => false,
        EXPLICIT_LE | JPEG_BASELINE => true,
        other => return Err(format!("transfer syntax {other} is not accepted (uncompressed little endian or JPEG baseline)")),
    };
    while !r.done() {
        let (tag, length) = r.header(explicit)?;
        if tag == PIXEL_DATA {
            if length == UNDEFINED {
                // Encapsulated: items (the first is the offset table) up to the delimiter.
                let mut fragments = Vec::new();
                loop {
                    let (tag, length) = r.header(explicit)?;
                    match tag {
                        SEQUENCE_END => break,
                        ITEM if length != UNDEFINED => fragments.push(r.take(length as usize)?),
                        (g, e) => return Err(format!("({g:04X},{e:04X}) in encapsulated pixel data")),
                    }
                }
                attributes.fragments = Some(fragments.split_off(1.min(fragments.len())));
            } else {
                attributes.found.push((tag, r.take(length as usize)?));
            }
            break; // nothing after the pixel data is needed
        }
        if length == UNDEFINED {
            r.skip_value(explicit, length, 0)?;
        } else {
            let value = r.take(length as usize)?;
            attributes.found.push((tag, value));
        }
    }
    Ok((syntax, attributes))
}

/// A decoded DICOM image and its pixel spacing (mm), when the file gives one.
pub fn decode(bytes: &[u8], source_name: &str) -> Result<(GreyImage, Option<f64>)> {
    let corrupt = |reason: String| Error::CorruptImage { source_name: source_name.into(), reason };
    let unsupported = |reason: String| Error::UnsupportedImage { source_name: source_name.into(), reason };
    let (syntax, a) = read_attributes(bytes).map_err(|e| if e.starts_with("transfer syntax") { unsupported(e) } else { corrupt(format!("not a readable DICOM file: {e}")) })?;
    let required = |tag: Tag, what: &str| a.short(tag).ok_or_else(|| corrupt(format!("no {what}")));
    let (rows, columns) = (required(ROWS, "Rows")?, required(COLUMNS, "Columns")?);
    let (width, height) = (u32::from(columns), u32::from(rows));
    check_size(source_name, width, height)?;
    if a.short(SAMPLES_PER_PIXEL).unwrap_or(1) != 1 {
        return Err(unsupported("colour DICOM images are not accepted (radiographs are grey: SamplesPerPixel must be 1)".into()));
    }
    let photometric = a.text(PHOTOMETRIC).unwrap_or_else(|| "MONOCHROME2".into());
    if photometric != "MONOCHROME1" && photometric != "MONOCHROME2" {
        return Err(unsupported(format!("photometric interpretation {photometric} is not accepted (MONOCHROME1 or MONOCHROME2)")));
    }
    let n = width as usize * height as usize;
    let stored: Vec<f64> = if syntax == JPEG_BASELINE {
        let fragments = a.fragments.as_ref().ok_or_else(|| corrupt("no encapsulated pixel data".into()))?;
        // Frame 1: the fragments up to the second JPEG start-of-image (or all of them).
        let starts: Vec<usize> = fragments.iter().enumerate().filter(|(_, f)| f.starts_with(&[0xFF, 0xD8])).map(|(i, _)| i).collect();
        let end = starts.get(1).copied().unwrap_or(fragments.len());
        let jpeg: Vec<u8> = fragments[starts.first().copied().unwrap_or(0)..end].concat();
        let (w, h, grey) = crate::io::image::decode_jpeg_luma_strictly(&jpeg).map_err(|reason| corrupt(format!("JPEG pixel data: {reason}")))?;
        if (w, h) != (width, height) {
            return Err(corrupt(format!("JPEG pixel data is {w}×{h}, the header says {width}×{height}")));
        }
        grey.into_iter().map(f64::from).collect()
    } else {
        let raw = a.get(PIXEL_DATA).ok_or_else(|| corrupt("no pixel data".into()))?;
        let allocated = required(BITS_ALLOCATED, "BitsAllocated")?;
        let bits = a.short(BITS_STORED).unwrap_or(allocated);
        let signed = a.short(PIXEL_REPRESENTATION).unwrap_or(0) == 1;
        if !(allocated == 8 || allocated == 16) || bits < 1 || bits > allocated {
            return Err(unsupported(format!("{allocated} bits allocated, {bits} stored (8 or 16 allocated are accepted)")));
        }
        let per = usize::from(allocated / 8);
        if raw.len() < n * per {
            return Err(corrupt(format!("{} bytes of pixel data for {width}×{height} pixels of {allocated} bits", raw.len())));
        }
        raw.chunks_exact(per).take(n).map(|c| stored_value(if per == 1 { u32::from(c[0]) } else { u32::from(u16::from_le_bytes([c[0], c[1]])) }, u32::from(bits), signed)).collect()
    };
    let first = |tag: Tag| a.decimals(tag).first().copied();
    let slope = first(RESCALE_SLOPE).filter(|s| *s != 0.0).unwrap_or(1.0);
    let intercept = first(RESCALE_INTERCEPT).unwrap_or(0.0);
    let values: Vec<f64> = stored.into_iter().map(|v| v * slope + intercept).collect();
    let (low, high) = match (first(WINDOW_CENTER), first(WINDOW_WIDTH).filter(|w| *w >= 1.0)) {
        // DICOM's linear VOI function (PS3.3 C.11.2.1.2.1).
        (Some(c), Some(w)) => (c - 0.5 - (w - 1.0) / 2.0, c - 0.5 + (w - 1.0) / 2.0),
        _ => values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    };
    let span = (high - low).max(f64::EPSILON);
    let invert = photometric == "MONOCHROME1";
    let pixels = values
        .into_iter()
        .map(|v| {
            let g = ((v - low) / span).clamp(0.0, 1.0) as f32;
            if invert { 1.0 - g } else { g }
        })
        .collect();
    let spacing = [PIXEL_SPACING, IMAGER_PIXEL_SPACING].into_iter().find_map(|tag| {
        let v = a.decimals(tag);
        let mean = match v.as_slice() {
            [a] => *a,
            [a, b, ..] => (a + b) / 2.0,
            [] => return None,
        };
        (mean > 0.0).then_some(mean)
    });
    Ok((GreyImage::new(width, height, pixels)?, spacing))
}

/// A stored pixel value: the low `bits` bits, sign-extended when `signed`.
fn stored_value(raw: u32, bits: u32, signed: bool) -> f64 {
    let v = raw & ((1u32 << bits) - 1);
    if signed && v >> (bits - 1) == 1 { f64::from(v) - f64::from(1u32 << bits) } else { f64::from(v) }
}
