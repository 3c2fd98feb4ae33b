//! How native programs allocate (the `cli` feature: the command line, the benchmarks, the
//! ONNX Runtime anchor). Detection allocates and frees buffers of megabytes for every image
//! (the decoded radiograph, each layer's activations); glibc's allocator returns such blocks
//! to the kernel when they are freed, so each image paid the page faults again. mimalloc,
//! declared `#[global_allocator]` by each of those programs, keeps them for the next image,
//! once told not to purge them (docs/performance.md, "Detection time, natively and in the browser").

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`; the Rust binding names no constant for
/// it): how long freed memory is kept before it is handed back to the kernel.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep freed memory: never purge instead of after 1 s. A training step
/// frees and reallocates its tensors, and faulting them in again cost training more time in
/// the kernel than glibc's allocator did (3 epochs of 4 steps: 3.6–3.8 s of system time
/// against 1.8–2.1 with glibc; 0.2–0.6 s without purging, in most runs); one radiograph's
/// detection (`cargo bench`) took 48.0 ms end to end with purging, 36.8 without. The process
/// keeps its peak memory until it exits, as a command-line run does.
pub fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's options, which it reads each time it would purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[cfg(test)]
mod tests {
    /// The option set is the purge delay: its default is 1000 ms (mimalloc's `options.c`), a
    /// value no neighbouring option has.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) }, 1000);
    }
}
