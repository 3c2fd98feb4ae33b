//! Training targets of the detector (paper §2.2): per landmark, a heatmap that is 1 inside a
//! disk of radius R around it, and offsets (landmark − pixel)/R inside the disk.
//!
//! Each output pixel's distance is measured to the landmark itself, so a disk cut by the
//! image border stays centred on the landmark and its offsets still point at it (the
//! authors' code shifts the disk there); a landmark outside the image gives an empty map.

use crate::io::landmarks::Point;

/// Targets of one image at the detector's output resolution, `[K, h, w]` each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    pub heatmap: Vec<f32>,
    pub offset_x: Vec<f32>,
    pub offset_y: Vec<f32>,
}

/// The model-pixel position of output pixel `i` at `stride` (pixel centres compose).
pub fn output_pixel_centre(i: usize, stride: usize) -> f64 {
    (i as f64 + 0.5) * stride as f64 - 0.5
}

/// `landmarks` in model pixels; maps of `size` = [h, w] output pixels at `stride`.
pub fn disk_targets(landmarks: &[Point], size: [usize; 2], stride: usize, radius: f64) -> Targets {
    let [h, w] = size;
    let n = landmarks.len() * h * w;
    let mut t = Targets { heatmap: vec![0.0; n], offset_x: vec![0.0; n], offset_y: vec![0.0; n] };
    for (k, l) in landmarks.iter().enumerate() {
        let s = stride as f64;
        // Only the output pixels whose centres can fall inside the disk.
        let lo = |c: f64| (((c - radius + 0.5) / s - 0.5).floor().max(0.0)) as usize;
        let hi = |c: f64, n: usize| ((((c + radius + 0.5) / s - 0.5).ceil()).max(-1.0) as i64).min(n as i64 - 1);
        let (y1, x1) = (hi(l.y, h), hi(l.x, w));
        if y1 < 0 || x1 < 0 {
            continue;
        }
        for y in lo(l.y)..=y1 as usize {
            for x in lo(l.x)..=x1 as usize {
                let (dx, dy) = (l.x - output_pixel_centre(x, stride), l.y - output_pixel_centre(y, stride));
                if dx.hypot(dy) <= radius {
                    let i = k * h * w + y * w + x;
                    t.heatmap[i] = 1.0;
                    t.offset_x[i] = (dx / radius) as f32;
                    t.offset_y[i] = (dy / radius) as f32;
                }
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_cut_by_the_border_stays_centred_on_its_landmark() {
        let (side, stride, r) = (24usize, 4usize, 19.0);
        for l in [Point::new(1.0, 50.0), Point::new(90.0, 0.0), Point::new(95.0, 95.0), Point::new(40.3, 57.9)] {
            let t = disk_targets(&[l], [side, side], stride, r);
            let mut inside = 0;
            for y in 0..side {
                for x in 0..side {
                    let (cx, cy) = (output_pixel_centre(x, stride), output_pixel_centre(y, stride));
                    let i = y * side + x;
                    let in_disk = (cx - l.x).hypot(cy - l.y) <= r;
                    assert_eq!(t.heatmap[i] == 1.0, in_disk, "pixel ({x},{y}) for {l:?}");
                    if in_disk {
                        inside += 1;
                        // Every disk pixel's offset points exactly at the landmark.
                        let vx = cx + f64::from(t.offset_x[i]) * r;
                        let vy = cy + f64::from(t.offset_y[i]) * r;
                        assert!((vx - l.x).abs() < 1e-4 && (vy - l.y).abs() < 1e-4);
                    } else {
                        assert_eq!((t.offset_x[i], t.offset_y[i]), (0.0, 0.0));
                    }
                }
            }
            // Cut at the border: fewer pixels than a whole disk, but some.
            assert!(inside > 0);
        }
        // A landmark outside the image leaves its maps empty.
        let t = disk_targets(&[Point::new(-40.0, 10.0)], [side, side], stride, r);
        assert!(t.heatmap.iter().all(|&v| v == 0.0));
    }
}
