//! The CPU loops behind the blocks' CPU path for detection and matching
//! (`blocks::cpu_kernel`, `ConvBlock`'s): convolution, max-pooling, ×2 upsampling (the `cpu`
//! feature: the browser's WebGPU module has no CPU backend).

mod winograd;

use crate::parallel::for_each_band;

/// A convolution's weights laid out for [`conv_same`]: `[Cout, Cin, kh, kw]`, dilation and
/// bias, the weights of Winograd's layers already transformed. Made once when a model is
/// folded for inference (`ConvBlock::fold_batch_norm`), not per forward: the layout was a
/// serial part of every forward (the CPU's second thread idle).
pub struct ConvWeights {
    dims: [usize; 4],
    dilation: [usize; 2],
    bias: Vec<f32>,
    layout: Layout,
}

enum Layout {
    /// As given, `[Cout, Cin, kh, kw]`.
    Taps(Vec<f32>),
    /// [`winograd::transformed_weights`].
    Winograd(Vec<f32>),
}

impl ConvWeights {
    pub fn new(weight: Vec<f32>, dims @ [cout, cin, kh, kw]: [usize; 4], dilation @ [dy, dx]: [usize; 2], bias: Vec<f32>) -> Self {
        assert!(weight.len() == cout * cin * kh * kw && bias.len() == cout && kh % 2 == 1 && kw % 2 == 1, "convolution weights' shapes");
        // Undilated 3×3 layers with more than [`FEW_INPUTS`] inputs per output (most of the
        // multiplies) go by Winograd's F(2×2, 3×3).
        let layout =
            if [kh, kw, dy, dx] == [3, 3, 1, 1] && cin * kh * kw > FEW_INPUTS { Layout::Winograd(winograd::transformed_weights(&weight, cin, cout)) } else { Layout::Taps(weight) };
        Self { dims, dilation, bias, layout }
    }
}

impl std::fmt::Debug for ConvWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = match self.layout {
            Layout::Taps(_) => "taps",
            Layout::Winograd(_) => "Winograd F(2×2, 3×3)",
        };
        f.debug_struct("ConvWeights").field("dims", &self.dims).field("dilation", &self.dilation).field("layout", &layout).finish()
    }
}

/// A stride-1 convolution that keeps the size (odd kernel, "same" zero padding), plus the
/// bias, then ReLU: `[B, Cin, H, W]` by the weights. The input comes as channel groups
/// (`parts`, each `[B, Cᵢ, H, W]`, joined along the channels in order: a U-Net decoder's
/// upsampled level and skip), joined as they are padded, never concatenated. Undilated 3×3 layers with many inputs
/// per output go by Winograd's F(2×2, 3×3) ([`winograd`]: forward 50 → 37 ms on one
/// thread). The others: one matrix product per kernel tap, with no im2col copy: on the
/// input zero-padded once, tap (ky, kx) reads every plane shifted by ky·d rows and kx·d
/// columns, a plain strided view, as long as the outputs are computed over the padded width
/// (the extra columns are dropped at the end). The products accumulate in place (gemm's
/// `read_dst`). With few inputs per output (the first layers), one product over all taps
/// instead.
pub fn conv_same(parts: &[&[f32]], [b, cin, h, w]: [usize; 4], weights: &ConvWeights) -> (Vec<f32>, [usize; 4]) {
    let ConvWeights { dims: [cout, wcin, kh, kw], dilation: [dy, dx], ref bias, ref layout } = *weights;
    assert!(wcin == cin && parts.iter().all(|p| p.len() % (b * h * w) == 0) && parts.iter().map(|p| p.len()).sum::<usize>() == b * cin * h * w, "convolution shapes");
    let weight = match layout {
        Layout::Winograd(u) => return winograd::conv3x3(parts, [b, cin, h, w], u, cout, bias),
        Layout::Taps(weight) => weight,
    };
    let (pad_h, pad_w) = (kh / 2 * dy, kw / 2 * dx);
    let (pw, ph) = (w + 2 * pad_w, h + 2 * pad_h);
    // The last tap's view runs 2·pad_w values past the padded plane.
    let plane = ph * pw + 2 * pad_w;
    let m = h * pw;
    // The padded input and the products live in this thread's scratch, reused from one
    // layer to the next: no allocation, page faults or zeroing per layer (the products
    // are written before they are read; only the padding needs its zeros).
    let (mut padded, mut products) = (scratch(&PADDED, cin * plane), scratch(&PRODUCTS, cout * m));
    // Every output is written: each image's `cout` planes, each plane's `h` rows of `w` values.
    let out = written(b * cout * h * w, |out| {
        for (image, out_image) in out.chunks_exact_mut(cout * h * w).enumerate() {
            zero_padded(parts, image, [b, h, w], &mut padded[..cin * plane], [plane, pw], [pad_h, pad_w]);
            // Each thread takes a band of output positions through all taps: disjoint rows
            // of `products`, no synchronisation between the taps.
            let (dst, lhs) = (products.as_mut_ptr() as usize, padded.as_ptr() as usize);
            // Where tap (ky, kx)'s view starts in a padded plane.
            let tap_offset = |tap: usize| tap / kw * dy * pw + tap % kw * dx;
            let band = |first: usize, rows: usize| {
                if cin * kh * kw <= FEW_INPUTS {
                    return few_inputs_band(&padded, plane, [cin, kh, kw], tap_offset, weight, dst as *mut f32, m, cout, first, rows);
                }
                for tap in 0..kh * kw {
                    let offset = tap_offset(tap);
                    // SAFETY: dst is rows `first..first + rows` of the `m × cout` column-major
                    // `products`, which no other band touches; lhs (`rows × cin`) starts at
                    // `offset + first` in plane 0 with planes `plane` apart, and its last
                    // value, offset + m − 1 + (cin − 1)·plane, lies inside `padded` (offset +
                    // m ≤ plane); rhs (`cin × cout`) is weight[co][ci][tap], inside `weight`.
                    unsafe {
                        product(
                            [rows, cout, cin],
                            (dst as *mut f32).add(first),
                            m,
                            tap > 0,
                            (lhs as *const f32).add(offset + first),
                            plane,
                            weight.as_ptr().add(tap),
                            [cin * kh * kw, kh * kw],
                        )
                    };
                }
            };
            for_each_band(m, 64, band);
            per_plane(&products[..cout * m], m, out_image, h * w, |channel, products, out_plane| {
                let shift = bias[channel];
                for (row, out_row) in products.chunks_exact(pw).zip(out_plane.chunks_exact_mut(w)) {
                    out_row.iter_mut().zip(row).for_each(|(o, &v)| _ = o.write((v + shift).max(0.0)));
                }
            });
        }
    });
    PADDED.set(padded);
    PRODUCTS.set(products);
    (out, [b, cout, h, w])
}

thread_local! {
    static PADDED: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    static PRODUCTS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

type Slot = std::thread::LocalKey<std::cell::Cell<Vec<f32>>>;

/// A thread's scratch buffer of at least `len` values, taken out of its slot for one
/// convolution (`slot.set` gives it back; a convolution this thread runs meanwhile,
/// stolen work of another image, finds the slot empty and allocates its own). Its values
/// are whatever was left in it.
fn scratch(slot: &'static Slot, len: usize) -> Vec<f32> {
    let mut values = slot.take();
    if values.len() < len {
        values.resize(len, 0.0);
    }
    values
}

/// At most this many inputs per output (input channels × kernel taps: up to 16 × 9, the
/// detector's first two layers) and the convolution runs as one matrix product over all
/// of them instead of one per tap: a tap's product would read and write every output for
/// only `cin` multiplies. (16 × 9 rather than 3 × 9: the detector's forward 50.0 → 48.6
/// ms on one thread, `scripts/onnx-anchor`; at 32 × 9 no better.)
const FEW_INPUTS: usize = 144;

/// Rows `first..first + rows` of `products` (column-major, `m` × `cout`) for a convolution
/// with few inputs per output: in chunks that stay in cache, the inputs of each output
/// gathered into a matrix (`cin · kh · kw` columns, each a tap's shifted view of a padded
/// plane: `offset(tap)` values in), then one product with the weights.
#[allow(clippy::too_many_arguments)]
fn few_inputs_band(
    padded: &[f32],
    plane: usize,
    [cin, kh, kw]: [usize; 3],
    offset: impl Fn(usize) -> usize,
    weight: &[f32],
    dst: *mut f32,
    m: usize,
    cout: usize,
    first: usize,
    rows: usize,
) {
    // 512 rows × 144 gathered inputs: 288 KiB, within a core's L2 with the products.
    const CHUNK: usize = 512;
    let (taps, k) = (kh * kw, cin * kh * kw);
    let mut columns = vec![0.0f32; CHUNK.min(rows) * k];
    for start in (first..first + rows).step_by(CHUNK) {
        let n = CHUNK.min(first + rows - start);
        for (column, gathered) in columns.chunks_exact_mut(n).take(k).enumerate() {
            let source = (column / taps) * plane + offset(column % taps) + start;
            gathered.copy_from_slice(&padded[source..source + n]);
        }
        // SAFETY: dst rows `start..start + n` of the `m × cout` column-major products are
        // this band's alone; lhs is `columns` (`n × k`, column-major); rhs (`k × cout`)
        // is the weights `[cout][cin · kh · kw]`, inside `weight`.
        unsafe { product([n, cout, k], dst.add(start), m, false, columns.as_ptr(), n, weight.as_ptr(), [k, 1]) };
    }
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`, on this thread (the callers
/// split the work between threads): `lhs` (`m × k`) and `dst` (`m × n`) column-major, their
/// columns `lhs_cs` and `dst_cs` apart; `rhs` (`k × n`) with columns `rhs_cs` and rows
/// `rhs_rs` apart.
///
/// # Safety
/// Each matrix lies inside its allocation, and `dst` overlaps neither operand nor anything
/// another thread writes meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn product([m, n, k]: [usize; 3], dst: *mut f32, dst_cs: usize, accumulate: bool, lhs: *const f32, lhs_cs: usize, rhs: *const f32, [rhs_cs, rhs_rs]: [usize; 2]) {
    // SAFETY: the caller's promise. (gemm ignores the first factor, 1.0, unless it reads dst.)
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            1,
            accumulate,
            lhs,
            lhs_cs as isize,
            1,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
}

/// Image `i` of an input given as channel groups (`parts`, each `[B, Cᵢ, H, W]`) into
/// `padded`, channel after channel: each `h × w` plane into a plane of `plane` values, rows
/// `pw` apart, `top` rows and `left` columns in; zeros everywhere else (the scratch holds
/// old values).
fn zero_padded(parts: &[&[f32]], i: usize, [b, h, w]: [usize; 3], padded: &mut [f32], [plane, pw]: [usize; 2], [top, left]: [usize; 2]) {
    let mut rest = padded;
    for part in parts {
        let image = part.len() / b;
        let (target, tail) = rest.split_at_mut(image / (h * w) * plane);
        per_plane(&part[i * image..][..image], h * w, target, plane, |_, source, target| {
            target[..top * pw].fill(0.0);
            for (row, padded_row) in source.chunks_exact(w).zip(target[top * pw..].chunks_exact_mut(pw)) {
                padded_row[..left].fill(0.0);
                padded_row[left..left + w].copy_from_slice(row);
                padded_row[left + w..].fill(0.0);
            }
            target[(top + h) * pw..].fill(0.0);
        });
        rest = tail;
    }
}

/// Runs `f(index, input plane, output plane)` over planes of `plane_in` and `plane_out`
/// values, on the pool's threads where there are threads (the planes are independent),
/// else in order.
fn per_plane<T: Send>(x: &[f32], plane_in: usize, out: &mut [T], plane_out: usize, f: impl Fn(usize, &[f32], &mut [T]) + Sync + Send) {
    crate::parallel::for_each_chunk_mut(out, plane_out, |i, out_plane| f(i, &x[i * plane_in..(i + 1) * plane_in], out_plane));
}

/// 2×2 max-pooling, stride 2 (`h`, `w` even). NaN wins, as in Burn's op.
pub fn max_pool_2x2(x: &[f32], [b, c, h, w]: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
    let (oh, ow) = (h / 2, w / 2);
    let max = |a: f32, b: f32| if a.is_nan() || a > b { a } else { b };
    let out = written(b * c * oh * ow, |out| {
        per_plane(x, h * w, out, oh * ow, |_, plane, out_plane| {
            for (rows, out_row) in plane.chunks_exact(2 * w).zip(out_plane.chunks_exact_mut(ow)) {
                let (top, bottom) = rows.split_at(w);
                for ((o, t), u) in out_row.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                    o.write(max(max(t[0], t[1]), max(u[0], u[1])));
                }
            }
        })
    });
    (out, [b, c, oh, ow])
}

/// Bilinear ×2, pixel centres aligned (`align_corners = false`), edges clamped: each
/// output lies a quarter of an input pixel from its nearest input, so the weights are
/// 3/4 and 1/4, rows then columns.
pub fn upsample_2x(x: &[f32], [b, c, h, w]: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
    let (oh, ow) = (2 * h, 2 * w);
    let out = written(b * c * oh * ow, |out| {
        per_plane(x, h * w, out, oh * ow, |_, plane, out_plane| {
            for (i, out_rows) in out_plane.chunks_exact_mut(2 * ow).enumerate() {
                let (above, this, below) = (&plane[i.saturating_sub(1) * w..][..w], &plane[i * w..][..w], &plane[(i + 1).min(h - 1) * w..][..w]);
                for (out_row, near) in out_rows.chunks_exact_mut(ow).zip([above, below]) {
                    for (j, r) in out_row.chunks_exact_mut(2).enumerate() {
                        let v = |k: usize| 0.75 * this[k] + 0.25 * near[k];
                        let centre = v(j);
                        r[0].write(0.75 * centre + 0.25 * v(j.saturating_sub(1)));
                        r[1].write(0.75 * centre + 0.25 * v((j + 1).min(w - 1)));
                    }
                }
            }
        })
    });
    (out, [b, c, oh, ow])
}

/// `len` values that `fill` writes, every one of them, without zeroing them first (a
/// serial pass over the outputs before the threads' parallel one).
pub(super) fn written(len: usize, fill: impl FnOnce(&mut [std::mem::MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` values (the callers' loops cover every output).
    unsafe { out.set_len(len) };
    out
}
