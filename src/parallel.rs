//! Independent pieces of work on the thread pool where the build has one (the `threads`
//! feature: natively the CLI's `--threads`, in the browser's threaded module its Web
//! Workers), in order otherwise.

/// Runs `f(index, chunk)` over the consecutive chunks of `len` values of `out`.
pub(crate) fn for_each_chunk_mut<T: Send>(out: &mut [T], len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(feature = "threads")]
    {
        use rayon::prelude::*;
        out.par_chunks_exact_mut(len).enumerate().for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(not(feature = "threads"))]
    out.chunks_exact_mut(len).enumerate().for_each(|(i, chunk)| f(i, chunk));
}
