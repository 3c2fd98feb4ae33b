//! Independent pieces of work on the thread pool where the build has one (the `threads`
//! feature: natively the CLI's `--threads`, in the browser's threaded module its Web
//! Workers), in order otherwise.
//!
//! A forward on the CPU is some fifty such loops in a row, each a millisecond or less. Between
//! them rayon's idle threads call `sched_yield`, which hands the core to any other runnable
//! process for a whole time slice: with one busy process at the lowest priority beside it,
//! the detector's forward on 2 threads went from 18 to 25–31 ms (ONNX Runtime, whose threads
//! spin, stayed at 19). So a forward runs inside [`spinning`]: the pool's other threads wait
//! for its loops spinning, not yielding, and take the loops' pieces as they come.

#[cfg(feature = "threads")]
mod team;

/// Runs `f` (a forward on the CPU backend) with the pool's other threads spinning for its
/// loops ([`for_each_chunk_mut`], [`for_each_band`]) until it returns. Elsewhere (another
/// backend, no threads) just `f()`.
pub fn spinning<R>(device: &burn::tensor::Device, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "threads")]
    if *device == burn::tensor::Device::flex() && !device.is_autodiff() {
        return team::spinning(f);
    }
    let _ = device;
    f()
}

/// Runs `f(index, chunk)` over the consecutive chunks of `len` values of `out`.
pub(crate) fn for_each_chunk_mut<T: Send>(out: &mut [T], len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(feature = "threads")]
    {
        if team::is_active() {
            let (count, start) = (out.len() / len, out.as_mut_ptr() as usize);
            // SAFETY: task i is chunk i of `out`, which no other task touches; `team::run`
            // returns only when every task has (and `out` is borrowed until then).
            return team::run(count, &|i| f(i, unsafe { std::slice::from_raw_parts_mut((start as *mut T).add(i * len), len) }));
        }
        use rayon::prelude::*;
        out.par_chunks_exact_mut(len).enumerate().for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(not(feature = "threads"))]
    out.chunks_exact_mut(len).enumerate().for_each(|(i, chunk)| f(i, chunk));
}

/// Runs `band(first, count)` over `0..n` split in one band per thread of the pool it is
/// called in (the CLI's `--threads`; in the browser's threaded module, its Web Workers),
/// bands of at least `smallest`; without threads, one band.
#[cfg(feature = "cpu")]
#[cfg_attr(not(feature = "threads"), allow(unused_variables))]
pub(crate) fn for_each_band(n: usize, smallest: usize, band: impl Fn(usize, usize) + Sync) {
    #[cfg(feature = "threads")]
    {
        let size = n.div_ceil(rayon::current_num_threads()).max(smallest);
        let task = |i: usize| band(i * size, size.min(n - i * size));
        if team::is_active() {
            return team::run(n.div_ceil(size), &task);
        }
        use rayon::prelude::*;
        (0..n.div_ceil(size)).into_par_iter().for_each(task);
    }
    #[cfg(not(feature = "threads"))]
    band(0, n);
}
