//! Landmarks, templates and predictions, and the three file formats they travel in:
//! the ISBI 2015 per-image txt files, a predictions CSV (`id,x1,y1,…`, the format of
//! `shared/tools/score.py`), and JSON for templates and results (what a web page produces
//! and consumes). All coordinates are in original image pixels.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A position in original image pixels (x right, y down; pixel centres at integers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }
    pub fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// A named landmark position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Landmark {
    pub name: String,
    pub x: f64,
    pub y: f64,
}

impl Landmark {
    pub fn point(&self) -> Point {
        Point::new(self.x, self.y)
    }
}

/// The one annotated example of the one-shot method: an image and its named landmarks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// The image file, relative to the JSON file's folder (or absolute).
    pub image: String,
    pub width: u32,
    pub height: u32,
    /// Millimetres per pixel, when known; metrics in mm need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing_mm: Option<f64>,
    pub landmarks: Vec<Landmark>,
}

impl Template {
    /// Builds a template and checks that every landmark is finite and inside the image.
    pub fn new(image: impl Into<String>, width: u32, height: u32, spacing_mm: Option<f64>, landmarks: Vec<Landmark>) -> Result<Self> {
        let t = Self { image: image.into(), width, height, spacing_mm, landmarks };
        t.validate(&t.image)?;
        Ok(t)
    }

    pub fn points(&self) -> Vec<Point> {
        self.landmarks.iter().map(Landmark::point).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.landmarks.iter().map(|l| l.name.clone()).collect()
    }

    /// Checks that `image` is the template's image (same size) and every landmark lies in it.
    pub fn check_image(&self, image: &crate::io::image::GreyImage) -> Result<()> {
        if (image.width, image.height) != (self.width, self.height) {
            return Err(Error::Invalid(format!("{}: template says {}×{}, image is {}×{}", self.image, self.width, self.height, image.width, image.height)));
        }
        self.validate(&self.image)
    }

    fn validate(&self, source_name: &str) -> Result<()> {
        if self.landmarks.is_empty() {
            return Err(Error::LandmarkCount { source_name: source_name.into(), count: 0, expected: 1 });
        }
        if let Some(s) = self.spacing_mm
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::Invalid(format!("{source_name}: spacing_mm must be a positive number, got {s}")));
        }
        let names: Vec<&str> = self.landmarks.iter().map(|l| l.name.as_str()).collect();
        // Results, few-shot templates and bundles identify landmarks by name.
        if let Some((index, name)) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
            let p = self.landmarks[index].point();
            return Err(Error::BadLandmark {
                source_name: source_name.into(),
                index: index + 1,
                name: (*name).into(),
                x: p.x,
                y: p.y,
                reason: "its name is taken by an earlier landmark: names must be unique".into(),
            });
        }
        check_points(source_name, &self.points(), &names, self.width, self.height)
    }

    /// Reads a template JSON file (docs/cli.md, "Data formats") and validates it.
    pub fn read_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, &path.display().to_string())
    }

    pub fn from_json(text: &str, source_name: &str) -> Result<Self> {
        let t: Template = serde_json::from_str(text).map_err(|e| Error::Parse { source_name: source_name.into(), line: e.line(), reason: e.to_string() })?;
        t.validate(source_name)?;
        Ok(t)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a template always serialises")
    }
}

/// Checks that points are finite and inside a `width`×`height` image (edges included).
pub fn check_points(source_name: &str, points: &[Point], names: &[&str], width: u32, height: u32) -> Result<()> {
    for (index, p) in points.iter().enumerate() {
        let bad = |reason: String| Error::BadLandmark {
            source_name: source_name.into(),
            index: index + 1,
            name: names.get(index).copied().unwrap_or("?").into(),
            x: p.x,
            y: p.y,
            reason,
        };
        if !(p.x.is_finite() && p.y.is_finite()) {
            return Err(bad("not a finite number".into()));
        }
        if p.x < 0.0 || p.y < 0.0 || p.x > f64::from(width) || p.y > f64::from(height) {
            return Err(bad(format!("outside the {width}×{height} image")));
        }
    }
    Ok(())
}

/// Reads an ISBI 2015 annotation file: one `x,y` line per landmark (integers in pixels);
/// the first `count` lines are landmarks, anything after them is ignored, as in the challenge.
pub fn read_isbi_txt(path: &Path, count: usize) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_isbi_txt(&text, count, &path.display().to_string())
}

pub fn parse_isbi_txt(text: &str, count: usize, source_name: &str) -> Result<Vec<Point>> {
    let mut points = Vec::with_capacity(count);
    for (i, line) in text.lines().enumerate() {
        if points.len() == count {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parse_err = |reason: String| Error::Parse { source_name: source_name.into(), line: i + 1, reason };
        let mut cells = line.split(',').map(str::trim);
        let mut num = |what: &str| -> Result<f64> {
            let cell = cells.next().ok_or_else(|| parse_err(format!("missing {what} in {line:?}")))?;
            cell.parse::<f64>().map_err(|_| parse_err(format!("{what} {cell:?} is not a number")))
        };
        let (x, y) = (num("x")?, num("y")?);
        points.push(Point::new(x, y));
    }
    if points.len() != count {
        return Err(Error::LandmarkCount { source_name: source_name.into(), count: points.len(), expected: count });
    }
    Ok(points)
}

/// Writes landmarks in the ISBI txt layout (one `x,y` line each, rounded to whole pixels).
pub fn write_isbi_txt(path: &Path, points: &[Point]) -> Result<()> {
    let text: String = points.iter().map(|p| format!("{},{}\n", p.x.round(), p.y.round())).collect();
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Landmark predictions for a set of images: the predictions CSV (`id,x1,y1,…,xK,yK`, one
/// row per image, original pixels), read by `eval` and by `shared/tools/score.py`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Predictions {
    pub rows: Vec<(String, Vec<Point>)>,
}

impl Predictions {
    pub fn get(&self, id: &str) -> Option<&[Point]> {
        self.rows.iter().find(|(i, _)| i == id).map(|(_, p)| p.as_slice())
    }

    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        self.write_csv_to(file).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    pub fn write_csv_to<W: std::io::Write>(&self, writer: W) -> std::result::Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(writer);
        let k = self.rows.first().map_or(0, |(_, p)| p.len());
        let mut header = vec!["id".to_string()];
        for i in 1..=k {
            header.push(format!("x{i}"));
            header.push(format!("y{i}"));
        }
        w.write_record(&header)?;
        for (id, pts) in &self.rows {
            let mut rec = vec![id.clone()];
            // Shortest round-trip form: reading the file back gives exactly these numbers.
            for p in pts {
                rec.push(p.x.to_string());
                rec.push(p.y.to_string());
            }
            w.write_record(&rec)?;
        }
        w.flush()?;
        Ok(())
    }

    /// Reads a predictions CSV. A header row is optional; every row must hold the same even
    /// number of finite coordinates.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_csv(&text, &path.display().to_string())
    }

    pub fn parse_csv(text: &str, source_name: &str) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut rows: Vec<(String, Vec<Point>)> = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 1;
            let err = |reason: String| Error::Parse { source_name: source_name.into(), line, reason };
            let record = record.map_err(|e| err(e.to_string()))?;
            let cells: Vec<&str> = record.iter().map(str::trim).filter(|c| !c.is_empty()).collect();
            if cells.is_empty() {
                continue;
            }
            let values: std::result::Result<Vec<f64>, _> = cells[1..].iter().map(|c| c.parse::<f64>()).collect();
            let values = match values {
                Ok(v) => v,
                Err(_) if i == 0 => continue, // header row
                Err(_) => {
                    let bad = cells[1..].iter().find(|c| c.parse::<f64>().is_err()).unwrap();
                    return Err(err(format!("{bad:?} is not a number")));
                }
            };
            if values.is_empty() || values.len() % 2 != 0 {
                return Err(err(format!("{} coordinates; expected x,y pairs", values.len())));
            }
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return Err(err(format!("coordinate {v} is not a finite number")));
            }
            let pts: Vec<Point> = values.chunks(2).map(|c| Point::new(c[0], c[1])).collect();
            if let Some((_, first)) = rows.first()
                && first.len() != pts.len()
            {
                return Err(Error::LandmarkCount { source_name: format!("{source_name}: line {line}"), count: pts.len(), expected: first.len() });
            }
            rows.push((normalise_id(cells[0]), pts));
        }
        Ok(Self { rows })
    }
}

/// Image ids as `score.py` reads them: the file stem, numbers zero-padded to 3 digits.
pub fn normalise_id(s: &str) -> String {
    let base = s.trim().rsplit(['/', '\\']).next().unwrap_or(s);
    let stem = base.split('.').next().unwrap_or(base);
    if !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()) { format!("{stem:0>3}") } else { stem.to_string() }
}

/// One image's detected landmarks, as returned to a caller or written as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub image: String,
    pub width: u32,
    pub height: u32,
    /// Millimetres per pixel, where the image file gives it (DICOM's pixel spacing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing_mm: Option<f64>,
    pub landmarks: Vec<ScoredLandmark>,
    /// Which way round the image was found where not upright ("mirrored (facing left)",
    /// "inverted (white air)", …); the points are in the image's own pixels either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<String>,
    /// False when the detector recognised the image no way round (not the anatomy it knows):
    /// its points are a guess, not a tracing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognised: Option<bool>,
}

/// A landmark with the detector's confidence in it (method-specific, higher is surer; in [0, 1]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredLandmark {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub score: f64,
}

impl Detection {
    /// Names the located landmarks (`(position, score)` each, template order).
    pub fn new(image: &str, width: u32, height: u32, names: &[String], found: Vec<(Point, f64)>) -> Self {
        let landmarks = found.into_iter().zip(names).map(|((p, score), name)| ScoredLandmark { name: name.clone(), x: p.x, y: p.y, score }).collect();
        Self { image: image.into(), width, height, spacing_mm: None, landmarks, orientation: None, recognised: None }
    }

    /// The image's pixel spacing (mm), when known.
    pub fn with_spacing(mut self, spacing_mm: Option<f64>) -> Self {
        self.spacing_mm = spacing_mm;
        self
    }

    /// Records how the image was found ([`crate::orientation`]): its orientation where not
    /// upright, and `recognised: false` where it was recognised no way round.
    pub fn with_orientation(mut self, found: &crate::orientation::Oriented) -> Self {
        self.orientation = (found.orientation != crate::orientation::Orientation::UPRIGHT).then(|| found.orientation.describe());
        self.recognised = (!found.recognised).then_some(false);
        self
    }

    pub fn points(&self) -> Vec<Point> {
        self.landmarks.iter().map(|l| Point::new(l.x, l.y)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_with_a_name_twice_is_refused() {
        let l = |name: &str, x: f64| Landmark { name: name.into(), x, y: 5.0 };
        let err = Template::new("t.png", 20, 20, None, vec![l("S", 1.0), l("N", 2.0), l("S", 3.0)]).unwrap_err().to_string();
        assert!(err.contains("landmark 3") && err.contains("S") && err.contains("names must be unique"), "{err}");
        assert!(Template::new("t.png", 20, 20, None, vec![l("S", 1.0), l("N", 2.0)]).is_ok());
    }

    #[test]
    fn isbi_txt_reads_the_first_k_lines_and_names_bad_ones() {
        let pts = parse_isbi_txt("835,996\n1473,1029\n\n7\n", 2, "001.txt").unwrap();
        assert_eq!(pts, vec![Point::new(835.0, 996.0), Point::new(1473.0, 1029.0)]);

        let m = parse_isbi_txt("835,996\n", 2, "002.txt").unwrap_err().to_string();
        assert_eq!(m, "002.txt: 1 landmarks, expected 2");
        let m = parse_isbi_txt("835,996\n14x3,1029\n", 2, "003.txt").unwrap_err().to_string();
        assert!(m.starts_with("003.txt: line 2:") && m.contains("\"14x3\" is not a number"), "{m}");
        let m = parse_isbi_txt("835\n", 1, "004.txt").unwrap_err().to_string();
        assert!(m.contains("004.txt: line 1: missing y"), "{m}");
    }

    #[test]
    fn isbi_txt_round_trips() {
        let scratch = tempfile::Builder::new().prefix("cc2d-isbi-").tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("x.txt");
        let pts = vec![Point::new(1.0, 2.0), Point::new(300.0, 4000.0)];
        write_isbi_txt(&path, &pts).unwrap();
        assert_eq!(read_isbi_txt(&path, 2).unwrap(), pts);
    }

    #[test]
    fn predictions_csv_round_trips_and_accepts_score_py_ids() {
        let p = Predictions { rows: vec![("151".into(), vec![Point::new(1.5, 2.25), Point::new(3.0, 4.0)]), ("hand".into(), vec![Point::new(0.0, 0.0), Point::new(9.0, 9.0)])] };
        let mut buf = Vec::new();
        p.write_csv_to(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.starts_with("id,x1,y1,x2,y2\n151,1.5,2.25,3,4\n"), "{text}");
        assert_eq!(Predictions::parse_csv(&text, "p.csv").unwrap(), p);
        let q = Predictions::parse_csv("images/7.jpg,1,2\n", "q.csv").unwrap();
        assert_eq!(q.rows[0].0, "007");
    }

    #[test]
    fn predictions_csv_refuses_bad_rows_naming_file_and_line() {
        let m = |t: &str| Predictions::parse_csv(t, "p.csv").unwrap_err().to_string();
        assert!(m("id,x1,y1\n1,2,oops\n").starts_with("p.csv: line 2: \"oops\""));
        let e = m("1,2,3,4,5\n2,5\n");
        assert!(e.contains("p.csv: line 2: 1 coordinates"), "{e}");
        assert!(m("1,2,3,4,5\n2,5,6,7,8,9,9\n").contains("p.csv: line 2: 3 landmarks, expected 2"));
        assert!(m("1,NaN,3\n").contains("not a finite number"));
    }

    #[test]
    fn template_json_round_trips_and_refuses_bad_landmarks() {
        let lm = |name: &str, x, y| Landmark { name: name.into(), x, y };
        let t = Template::new("001.jpg", 100, 50, Some(0.1), vec![lm("sella", 10.0, 20.0), lm("nasion", 99.5, 0.0)]).unwrap();
        assert_eq!(Template::from_json(&t.to_json(), "t.json").unwrap(), t);

        let e = Template::new("a.png", 100, 50, None, vec![lm("sella", 10.0, f64::NAN)]).unwrap_err().to_string();
        assert!(e.contains("a.png: landmark 1 (sella)") && e.contains("not a finite number"), "{e}");
        let e = Template::new("a.png", 100, 50, None, vec![lm("sella", 1.0, 1.0), lm("menton", 10.0, 51.0)]).unwrap_err().to_string();
        assert!(e.contains("landmark 2 (menton) is at (10, 51), outside the 100×50 image"), "{e}");
        let e = Template::new("a.png", 100, 50, None, vec![]).unwrap_err().to_string();
        assert!(e.contains("0 landmarks"), "{e}");
        let e = Template::from_json("{\"image\": 3}", "t.json").unwrap_err().to_string();
        assert!(e.starts_with("t.json: line 1:"), "{e}");
    }
}
