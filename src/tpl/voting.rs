//! From the detector's maps to landmarks (paper §2.2, test phase): every pixel whose heatmap
//! is at least the threshold votes for pixel + offset·R; the most-voted model pixel wins and
//! is refined by a few mean-shift steps over the votes near it. The confidence is the
//! heatmap's peak probability.

use crate::io::landmarks::Point;
use crate::tpl::targets::output_pixel_centre;

/// Heatmap probability at or above which a pixel votes (the paper: 0.5).
pub const VOTE_THRESHOLD: f32 = 0.5;

/// The winning model pixel's votes give a first answer; then [`MEAN_SHIFT_STEPS`] times the
/// answer moves to the mean of the votes within this many model pixels of it. The winning
/// pixel alone holds few votes and rounds them to its 1-pixel bin; pooling its neighbours'
/// votes, on the 149 other training images, moved MRE / SDR@2 / SDR@4 from 2.178 mm / 58.85 /
/// 88.94 % to 2.159 / 59.45 / 89.23 with 2 px (3 px: 2.153 mm but SDR@2 58.64;
/// `examples/voting_ablation.rs`).
pub const VOTE_POOL_PX: f64 = 2.0;

/// Mean-shift steps after the winning pixel (see [`VOTE_POOL_PX`]).
pub const MEAN_SHIFT_STEPS: usize = 3;

/// What one landmark's vote says besides the winner: how sure the heatmap is and how much the
/// voters agree (signals for the confidence).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoteEvidence {
    /// The heatmap's peak probability.
    pub peak: f64,
    /// The share of the votes that land within one output stride of the answer.
    pub share: f64,
    /// Root mean square distance of the votes from the answer, model pixels.
    pub spread: f64,
}

/// One landmark's maps (`[h, w]` row-major: heatmap probabilities, offsets in units of R) →
/// position in model pixels (`model` = [height, width]) and confidence in [0, 1] (the
/// heatmap's peak).
pub fn vote(heatmap: &[f32], offset_x: &[f32], offset_y: &[f32], size: [usize; 2], stride: usize, radius: f64, model: [usize; 2]) -> (Point, f64) {
    let (p, evidence) = vote_with_evidence(heatmap, offset_x, offset_y, size, stride, radius, model);
    (p, evidence.peak)
}

/// The first largest value's index, and the value.
pub fn argmax(values: &[f32]) -> (usize, f32) {
    values.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
}

/// [`vote`], with the evidence.
pub fn vote_with_evidence(heatmap: &[f32], offset_x: &[f32], offset_y: &[f32], size: [usize; 2], stride: usize, radius: f64, model: [usize; 2]) -> (Point, VoteEvidence) {
    let [h, w] = size;
    let [mh, mw] = model;
    let peak = argmax(heatmap);
    // No pixel confident enough: those as confident as the peak vote instead.
    let threshold = VOTE_THRESHOLD.min(peak.1);
    let mut counts = vec![0u32; mh * mw];
    let mut sums = vec![(0f64, 0f64); mh * mw];
    let mut votes = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if heatmap[i] < threshold {
                continue;
            }
            let vx = output_pixel_centre(x, stride) + f64::from(offset_x[i]) * radius;
            let vy = output_pixel_centre(y, stride) + f64::from(offset_y[i]) * radius;
            votes.push((vx, vy));
            let (cx, cy) = (vx.round().clamp(0.0, (mw - 1) as f64) as usize, vy.round().clamp(0.0, (mh - 1) as f64) as usize);
            counts[cy * mw + cx] += 1;
            let s = &mut sums[cy * mw + cx];
            s.0 += vx;
            s.1 += vy;
        }
    }
    let (best, n) = counts.iter().enumerate().fold((0, 0), |b, (i, &c)| if c > b.1 { (i, c) } else { b });
    let position = if n > 0 {
        mean_shift(&votes, Point::new(sums[best].0 / f64::from(n), sums[best].1 / f64::from(n)))
    } else {
        Point::new(output_pixel_centre(peak.0 % w, stride), output_pixel_centre(peak.0 / w, stride))
    };
    let near = votes.iter().filter(|v| (v.0 - position.x).hypot(v.1 - position.y) <= stride as f64).count();
    let spread = (votes.iter().map(|v| (v.0 - position.x).powi(2) + (v.1 - position.y).powi(2)).sum::<f64>() / votes.len().max(1) as f64).sqrt();
    let evidence = VoteEvidence { peak: f64::from(peak.1.clamp(0.0, 1.0)), share: near as f64 / votes.len().max(1) as f64, spread };
    (position, evidence)
}

/// [`MEAN_SHIFT_STEPS`] steps from `start` to the mean of the votes within [`VOTE_POOL_PX`].
fn mean_shift(votes: &[(f64, f64)], start: Point) -> Point {
    (0..MEAN_SHIFT_STEPS).fold(start, |p, _| {
        let near: Vec<_> = votes.iter().filter(|v| (v.0 - p.x).hypot(v.1 - p.y) <= VOTE_POOL_PX).collect();
        if near.is_empty() {
            return p;
        }
        let n = near.len() as f64;
        Point::new(near.iter().map(|v| v.0).sum::<f64>() / n, near.iter().map(|v| v.1).sum::<f64>() / n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tpl::targets::disk_targets;

    #[test]
    fn voting_recovers_planted_landmarks_exactly() {
        let (side, stride, r) = (24usize, 4usize, 19.0);
        let landmarks = [Point::new(37.25, 61.5), Point::new(2.0, 93.0)];
        let t = disk_targets(&landmarks, [side, side], stride, r);
        let n = side * side;
        for (k, l) in landmarks.iter().enumerate() {
            let part = |v: &[f32]| v[k * n..(k + 1) * n].to_vec();
            let (p, confidence) = vote(&part(&t.heatmap), &part(&t.offset_x), &part(&t.offset_y), [side, side], stride, r, [96, 96]);
            assert!((p.x - l.x).abs() < 1e-5 && (p.y - l.y).abs() < 1e-5, "{p:?} vs {l:?}");
            assert_eq!(confidence, 1.0);
        }
    }

    #[test]
    fn outvoted_noise_does_not_move_the_answer_and_a_faint_map_still_answers() {
        let (side, stride, r) = (24usize, 4usize, 19.0);
        let l = Point::new(50.0, 40.0);
        let mut t = disk_targets(&[l], [side, side], stride, r);
        // Three confident pixels far away voting for a wrong place.
        for i in [3, 4, 5] {
            t.heatmap[i] = 0.9;
            t.offset_x[i] = 0.0;
            t.offset_y[i] = 0.0;
        }
        let (p, _) = vote(&t.heatmap, &t.offset_x, &t.offset_y, [side, side], stride, r, [96, 96]);
        assert!(p.distance(l) < 1e-5);
        // Nothing above the threshold: the pixels at the peak level vote.
        let faint: Vec<f32> = t.heatmap.iter().map(|v| v * 0.3).collect();
        let (p, c) = vote(&faint, &t.offset_x, &t.offset_y, [side, side], stride, r, [96, 96]);
        assert!(p.distance(l) < 1e-5 && (c - 0.3).abs() < 1e-6, "{p:?} {c}");
    }
    #[test]
    fn scattered_votes_are_pooled_around_the_winner_but_a_distant_cluster_is_not() {
        let (side, stride, r) = (24usize, 4usize, 19.0);
        let l = Point::new(41.3, 52.7);
        let mut t = disk_targets(&[l], [side, side], stride, r);
        // Every vote off by up to ±1.5 px (a fixed pseudo-random pattern): the winning 1-px bin
        // holds only a few of them; their pooled mean lies near the landmark.
        let mut voters = 0;
        for i in 0..side * side {
            if t.heatmap[i] >= VOTE_THRESHOLD {
                voters += 1;
                let jitter = |m: usize| ((i * m) % 13) as f32 / 12.0 * 3.0 - 1.5;
                t.offset_x[i] += jitter(7919) / r as f32;
                t.offset_y[i] += jitter(104_729) / r as f32;
            }
        }
        // A few confident pixels voting 8 px away: outside the pool, outvoted.
        for i in [0, 1, 2] {
            t.heatmap[i] = 0.9;
            t.offset_x[i] = ((l.x + 8.0 - output_pixel_centre(i, stride)) / r) as f32;
            t.offset_y[i] = ((l.y - output_pixel_centre(0, stride)) / r) as f32;
        }
        let (p, _) = vote(&t.heatmap, &t.offset_x, &t.offset_y, [side, side], stride, r, [96, 96]);
        assert!(voters > 50, "{voters} voters");
        assert!(p.distance(l) < 0.3, "{p:?} vs {l:?}");
    }
}
