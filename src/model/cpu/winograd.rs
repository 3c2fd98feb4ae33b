//! 3×3 convolutions (stride 1, dilation 1, "same" padding) by Winograd's minimal filtering
//! F(2×2, 3×3) (Lavin & Gray, 2016): each 2×2 block of outputs from a 4×4 block of inputs
//! with 16 multiplies per input channel instead of 36. The input blocks and the weights are
//! transformed into 16 matrices each, the 16 products are ordinary matrix products over the
//! channels, and each output block is transformed back. The detector's and the extractors'
//! 3×3 layers are most of their multiplies.

use std::array::from_fn;

use super::{PADDED, PRODUCTS, product, scratch, written, zero_padded};
use crate::parallel::for_each_band;

/// About this many output blocks (tiles) are transformed and multiplied at a time by one
/// thread, in whole rows of tiles: their transformed inputs and products (16 × tiles ×
/// channels each) stay in a core's caches. 192: for the detector's rows of 48, 24 and 12
/// tiles a multiple of gemm's 64 rows (128 left 32-row remainders: forward, one thread,
/// medians of four alternated runs, 36.8 → 35.4 ms).
const TILES: usize = 192;

/// `conv_same` for a 3×3 kernel, dilation 1: `[B, Cin, H, W]` (as channel groups, `parts`)
/// by the [`transformed_weights`] `u` of `[Cout, Cin, 3, 3]`, plus `bias`, then ReLU.
pub fn conv3x3(parts: &[&[f32]], [b, cin, h, w]: [usize; 4], u: &[f32], cout: usize, bias: &[f32]) -> (Vec<f32>, [usize; 4]) {
    assert_eq!(u.len(), 16 * cin * cout, "transformed weights' shape");
    let (tiles_y, tiles_x) = (h.div_ceil(2), w.div_ceil(2));
    // One zero row and column around the image, and one more at the far end when H or W is
    // odd: every tile reads a whole 4×4 block.
    let (ph, pw) = (2 * tiles_y + 2, 2 * tiles_x + 2);
    let mut padded = scratch(&PADDED, cin * ph * pw);
    let rows_per_block = (TILES / tiles_x).max(1);
    // Every output is written: every tile writes its outputs in every channel, and the tiles
    // cover each plane.
    let out = written(b * cout * h * w, |out| {
        for (image, out_image) in out.chunks_exact_mut(cout * h * w).enumerate() {
            zero_padded(parts, image, [b, h, w], &mut padded[..cin * ph * pw], [ph * pw, pw], [1, 1]);
            let (input, output) = (&padded[..cin * ph * pw], out_image.as_mut_ptr() as usize);
            for_each_band(tiles_y, 1, |first_row, row_count| {
                let most = rows_per_block.min(row_count) * tiles_x;
                let (mut v, mut m) = (scratch(&INPUTS, 16 * cin * most), scratch(&PRODUCTS, 16 * cout * most));
                for first in (first_row..first_row + row_count).step_by(rows_per_block) {
                    let rows = rows_per_block.min(first_row + row_count - first);
                    let n = rows * tiles_x;
                    transform_inputs(input, [cin, ph, pw], [first, rows], tiles_x, &mut v[..16 * cin * n]);
                    for p in 0..16 {
                        // SAFETY: dst is product p, `n × cout` column-major, inside `m`; lhs is
                        // transformed input p, `n × cin` column-major, inside `v`; rhs is the
                        // transformed weights p, `cin × cout` column-major, inside `u`.
                        unsafe { product([n, cout, cin], m.as_mut_ptr().add(p * cout * n), n, false, v.as_ptr().add(p * cin * n), n, u.as_ptr().add(p * cin * cout), [cin, 1]) };
                    }
                    // SAFETY: these tile rows' outputs, which no other band writes, inside the
                    // image's `cout × h × w` outputs.
                    unsafe { transform_outputs(&m[..16 * cout * n], [cout, h, w], [first, rows], tiles_x, bias, output as *mut f32) };
                }
                INPUTS.set(v);
                PRODUCTS.set(m);
            });
        }
    });
    PADDED.set(padded);
    (out, [b, cout, h, w])
}

thread_local! {
    static INPUTS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// G g Gᵀ for every (input, output) channel pair: 16 matrices `cin × cout`, column-major (in
/// the order the weights are read, so each matrix is written in sequence), one per position
/// of the 4×4 transformed kernel.
pub fn transformed_weights(weight: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; 16 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            let g = &weight[(co * cin + ci) * 9..][..9];
            // G g: 4 × 3.
            let t: [[f32; 3]; 4] = [from_fn(|j| g[j]), from_fn(|j| 0.5 * (g[j] + g[3 + j] + g[6 + j])), from_fn(|j| 0.5 * (g[j] - g[3 + j] + g[6 + j])), from_fn(|j| g[6 + j])];
            // (G g) Gᵀ: 4 × 4.
            for (r, [t0, t1, t2]) in t.into_iter().enumerate() {
                for (c, value) in [t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2].into_iter().enumerate() {
                    u[(r * 4 + c) * cin * cout + co * cin + ci] = value;
                }
            }
        }
    }
    u
}

/// Bᵀ d B for the tiles of tile rows `first..first + rows` of every input plane: `v` holds 16
/// matrices `n × cin`, column-major (a channel's tiles consecutive). Separable: each of a
/// tile row's four input rows is transformed along its columns for all its tiles at once,
/// then the four combine down the rows.
fn transform_inputs(padded: &[f32], [cin, ph, pw]: [usize; 3], [first, rows]: [usize; 2], tiles_x: usize, v: &mut [f32]) {
    let n = rows * tiles_x;
    // across[r][k][tx]: input row r of the tile row, column k of Bᵀ-transformed tile tx.
    let mut across: [[Vec<f32>; 4]; 4] = from_fn(|_| from_fn(|_| vec![0.0f32; tiles_x]));
    for ci in 0..cin {
        let plane = &padded[ci * ph * pw..][..ph * pw];
        for ty in first..first + rows {
            for (r, [h0, h1, h2, h3]) in across.iter_mut().enumerate() {
                let row = &plane[(2 * ty + r) * pw..][..2 * tiles_x + 2];
                for ((((h0, h1), h2), h3), d) in h0.iter_mut().zip(h1.iter_mut()).zip(h2.iter_mut()).zip(h3.iter_mut()).zip(row.windows(4).step_by(2)) {
                    (*h0, *h1, *h2, *h3) = (d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]);
                }
            }
            let t0 = (ty - first) * tiles_x;
            let [d0, d1, d2, d3] = &across;
            for k in 0..4 {
                let rows_k = [&d0[k][..], &d1[k], &d2[k], &d3[k]];
                let at = |i: usize| ((i * 4 + k) * cin + ci) * n + t0;
                combine(&mut v[at(0)..][..tiles_x], rows_k, |a, _, c, _| a - c);
                combine(&mut v[at(1)..][..tiles_x], rows_k, |_, b, c, _| b + c);
                combine(&mut v[at(2)..][..tiles_x], rows_k, |_, b, c, _| c - b);
                combine(&mut v[at(3)..][..tiles_x], rows_k, |_, b, _, e| b - e);
            }
        }
    }
}

/// `target[i] = f(a[i], b[i], c[i], d[i])`: one row of a transform, for every tile of a row.
fn combine(target: &mut [f32], [a, b, c, d]: [&[f32]; 4], f: impl Fn(f32, f32, f32, f32) -> f32) {
    for ((((o, &a), &b), &c), &d) in target.iter_mut().zip(a).zip(b).zip(c).zip(d) {
        *o = f(a, b, c, d);
    }
}

/// Aᵀ M A for the tiles of tile rows `first..first + rows` of every output channel, plus the
/// bias, then ReLU, written into the image's `[cout, h, w]` outputs (the parts of edge tiles
/// inside them).
///
/// # Safety
/// `out` must hold `cout × h × w` values that no one else writes while these tiles' are.
unsafe fn transform_outputs(m: &[f32], [cout, h, w]: [usize; 3], [first, rows]: [usize; 2], tiles_x: usize, bias: &[f32], out: *mut f32) {
    let n = rows * tiles_x;
    // down[j][tx]: column j of row r of Aᵀ M for tile tx.
    let mut down: [Vec<f32>; 4] = from_fn(|_| vec![0.0f32; tiles_x]);
    let mut line = vec![0.0f32; 2 * tiles_x];
    for (co, &shift) in bias.iter().enumerate().take(cout) {
        for ty in first..first + rows {
            let t0 = (ty - first) * tiles_x;
            let at = |p: usize| &m[(p * cout + co) * n + t0..][..tiles_x];
            for r in 0..2.min(h - 2 * ty) {
                for (j, values) in down.iter_mut().enumerate() {
                    let column = [at(j), at(4 + j), at(8 + j), at(12 + j)];
                    if r == 0 {
                        combine(values, column, |a, b, c, _| a + b + c);
                    } else {
                        combine(values, column, |_, b, c, e| b - c - e);
                    }
                }
                // A along the columns: two outputs per tile, plus the bias, then ReLU.
                let [s0, s1, s2, s3] = &down;
                for ((pair, ((&s0, &s1), &s2)), &s3) in line.chunks_exact_mut(2).zip(s0.iter().zip(s1).zip(s2)).zip(s3) {
                    pair[0] = (s0 + s1 + s2 + shift).max(0.0);
                    pair[1] = (s1 - s2 - s3 + shift).max(0.0);
                }
                // SAFETY: row 2·ty + r of channel co, inside the `cout × h × w` outputs (the
                // caller's promise); `line` holds at least `w` values.
                unsafe { std::ptr::copy_nonoverlapping(line.as_ptr(), out.add((co * h + 2 * ty + r) * w), w) };
            }
        }
    }
}
