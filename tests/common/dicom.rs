//! A small DICOM Part 10 writer for tests, written from the standard (PS3.5, PS3.10) and
//! independent of the reader under test (DICOM-rs): explicit or implicit VR little endian,
//! native or encapsulated (JPEG) pixel data.

/// What to write: the attributes a radiograph's reader needs.
#[derive(Clone, Debug)]
pub struct DicomImage {
    pub rows: u16,
    pub columns: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    pub photometric: &'static str,
    /// (0028,0030) PixelSpacing, "row\column" in mm.
    pub pixel_spacing: Option<&'static str>,
    /// (0018,1164) ImagerPixelSpacing.
    pub imager_pixel_spacing: Option<&'static str>,
    /// (slope, intercept).
    pub rescale: Option<(f64, f64)>,
    /// (centre, width).
    pub window: Option<(f64, f64)>,
    pub implicit_vr: bool,
    /// Native pixel data (little endian) or one JPEG frame.
    pub pixels: Pixels,
}

#[derive(Clone, Debug)]
pub enum Pixels {
    Native(Vec<u8>),
    Jpeg(Vec<u8>),
}

impl DicomImage {
    /// An uncompressed 16-bit MONOCHROME2 image of `values` (row-major).
    pub fn native16(columns: u16, rows: u16, values: &[u16]) -> Self {
        Self {
            rows,
            columns,
            bits_allocated: 16,
            bits_stored: 16,
            signed: false,
            photometric: "MONOCHROME2",
            pixel_spacing: None,
            imager_pixel_spacing: None,
            rescale: None,
            window: None,
            implicit_vr: false,
            pixels: Pixels::Native(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        }
    }

    /// An uncompressed 8-bit MONOCHROME2 image of `values`.
    pub fn native8(columns: u16, rows: u16, values: &[u8]) -> Self {
        Self { bits_allocated: 8, bits_stored: 8, pixels: Pixels::Native(values.to_vec()), ..Self::native16(columns, rows, &[]) }
    }

    /// One 8-bit grey baseline JPEG frame.
    pub fn jpeg(columns: u16, rows: u16, jpeg: Vec<u8>) -> Self {
        Self { bits_allocated: 8, bits_stored: 8, pixels: Pixels::Jpeg(jpeg), ..Self::native16(columns, rows, &[]) }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let syntax = match (&self.pixels, self.implicit_vr) {
            (Pixels::Jpeg(_), _) => "1.2.840.10008.1.2.4.50",
            (Pixels::Native(_), true) => "1.2.840.10008.1.2",
            (Pixels::Native(_), false) => "1.2.840.10008.1.2.1",
        };
        // File meta group: always explicit VR little endian, its length first.
        let mut meta = Vec::new();
        explicit(&mut meta, 0x0002, 0x0001, "OB", &[0, 1]);
        explicit(&mut meta, 0x0002, 0x0002, "UI", &ui("1.2.840.10008.5.1.4.1.1.1.1"));
        explicit(&mut meta, 0x0002, 0x0003, "UI", &ui("1.2.826.0.1.3680043.10.1083.1"));
        explicit(&mut meta, 0x0002, 0x0010, "UI", &ui(syntax));
        explicit(&mut meta, 0x0002, 0x0012, "UI", &ui("1.2.826.0.1.3680043.10.1083.2"));
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        explicit(&mut out, 0x0002, 0x0000, "UL", &(meta.len() as u32).to_le_bytes());
        out.extend(meta);

        let mut set = Vec::new();
        let mut put = |group: u16, element: u16, vr: &str, value: &[u8]| {
            if self.implicit_vr {
                implicit(&mut set, group, element, value);
            } else {
                explicit(&mut set, group, element, vr, value);
            }
        };
        let us = |v: u16| v.to_le_bytes().to_vec();
        if let Some(s) = self.imager_pixel_spacing {
            put(0x0018, 0x1164, "DS", &text(s));
        }
        put(0x0028, 0x0002, "US", &us(1));
        put(0x0028, 0x0004, "CS", &text(self.photometric));
        put(0x0028, 0x0010, "US", &us(self.rows));
        put(0x0028, 0x0011, "US", &us(self.columns));
        if let Some(s) = self.pixel_spacing {
            put(0x0028, 0x0030, "DS", &text(s));
        }
        put(0x0028, 0x0100, "US", &us(self.bits_allocated));
        put(0x0028, 0x0101, "US", &us(self.bits_stored));
        put(0x0028, 0x0102, "US", &us(self.bits_stored - 1));
        put(0x0028, 0x0103, "US", &us(u16::from(self.signed)));
        if let Some((c, w)) = self.window {
            put(0x0028, 0x1050, "DS", &text(&c.to_string()));
            put(0x0028, 0x1051, "DS", &text(&w.to_string()));
        }
        if let Some((slope, intercept)) = self.rescale {
            put(0x0028, 0x1052, "DS", &text(&intercept.to_string()));
            put(0x0028, 0x1053, "DS", &text(&slope.to_string()));
        }
        match &self.pixels {
            Pixels::Native(bytes) => put(0x7FE0, 0x0010, if self.bits_allocated == 8 { "OB" } else { "OW" }, &even(bytes.clone(), 0)),
            Pixels::Jpeg(jpeg) => {
                // Encapsulated: undefined length, an empty offset table, one fragment, the end.
                set.extend(tag(0x7FE0, 0x0010));
                set.extend_from_slice(b"OB\0\0");
                set.extend(u32::MAX.to_le_bytes());
                item(&mut set, &[]);
                item(&mut set, &even(jpeg.clone(), 0));
                set.extend(tag(0xFFFE, 0xE0DD));
                set.extend(0u32.to_le_bytes());
            }
        }
        out.extend(set);
        out
    }
}

fn tag(group: u16, element: u16) -> Vec<u8> {
    [group.to_le_bytes(), element.to_le_bytes()].concat()
}

fn explicit(out: &mut Vec<u8>, group: u16, element: u16, vr: &str, value: &[u8]) {
    out.extend(tag(group, element));
    out.extend_from_slice(vr.as_bytes());
    if ["OB", "OW", "OF", "SQ", "UT", "UN"].contains(&vr) {
        out.extend_from_slice(&[0, 0]);
        out.extend((value.len() as u32).to_le_bytes());
    } else {
        out.extend((value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
}

fn implicit(out: &mut Vec<u8>, group: u16, element: u16, value: &[u8]) {
    out.extend(tag(group, element));
    out.extend((value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

fn item(out: &mut Vec<u8>, value: &[u8]) {
    out.extend(tag(0xFFFE, 0xE000));
    out.extend((value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// Values have even lengths: strings padded with a space, UIDs and binary data with a zero.
fn even(mut bytes: Vec<u8>, pad: u8) -> Vec<u8> {
    if bytes.len() % 2 == 1 {
        bytes.push(pad);
    }
    bytes
}

fn text(s: &str) -> Vec<u8> {
    even(s.as_bytes().to_vec(), b' ')
}

fn ui(s: &str) -> Vec<u8> {
    even(s.as_bytes().to_vec(), 0)
}
