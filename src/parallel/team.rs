//! The pool's threads as one team for a forward: the thread that runs the forward posts each
//! loop as numbered tasks, and every thread of the team, itself included, claims tasks until
//! none is left; the others spin between loops. Spinning, they also run any other work that
//! reaches the pool (`rayon::yield_now`: the next image's decoding in `cc2d detect`), so the
//! team never holds work up, and the forward's thread claims whatever they leave, so no loop
//! waits for a thread that is busy elsewhere.

use std::cell::Cell;
use std::hint::spin_loop;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The current loop, as one word: its number, its task count and the next task to claim, so
/// a claim (compare-and-swap) sees all three together and never takes a task of a loop that
/// has ended (whose `job` may be gone).
struct State;

impl State {
    const BITS: u32 = 24;
    const MASK: u64 = (1 << Self::BITS) - 1;
    /// The loop number takes the 16 bits left (it only tells one loop from the next).
    const LOOPS: u64 = (1 << (64 - 2 * Self::BITS)) - 1;

    fn pack(loop_number: u64, tasks: usize, next: usize) -> u64 {
        (loop_number << (2 * Self::BITS)) | ((tasks as u64) << Self::BITS) | next as u64
    }

    fn tasks(state: u64) -> usize {
        ((state >> Self::BITS) & Self::MASK) as usize
    }

    fn next(state: u64) -> usize {
        (state & Self::MASK) as usize
    }
}

type Task<'a> = &'a (dyn Fn(usize) + Sync);

struct Team {
    state: AtomicU64,
    /// The current loop's tasks: a `Task` behind a pointer, valid while any of them is
    /// unfinished.
    job: AtomicPtr<()>,
    finished: AtomicUsize,
    stop: AtomicBool,
    /// A task panicked.
    failed: AtomicBool,
}

thread_local! {
    /// The team whose forward this thread is running.
    static CURRENT: Cell<*const Team> = const { Cell::new(std::ptr::null()) };
}

pub fn is_active() -> bool {
    !CURRENT.get().is_null()
}

/// See `parallel::spinning`.
pub fn spinning<R>(f: impl FnOnce() -> R) -> R {
    // No more spinning threads than cores (a pool larger than the machine, `--threads 4` on
    // 2 cores: helpers spinning on the forward's own core would slow it).
    let cores = std::thread::available_parallelism().map_or(usize::MAX, |n| n.get());
    let helpers = rayon::current_num_threads().min(cores).saturating_sub(1);
    if helpers == 0 {
        return f();
    }
    let team = Arc::new(Team {
        state: AtomicU64::new(0),
        job: AtomicPtr::new(std::ptr::null_mut()),
        finished: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        failed: AtomicBool::new(false),
    });
    // Detached, not scoped: the forward does not wait for a helper that is off running other
    // work (another image's whole detection, in `cc2d detect`) to come back.
    for _ in 0..helpers {
        let team = Arc::clone(&team);
        rayon::spawn(move || team.help());
    }
    let _on_duty = OnDuty { team: &team, outer: CURRENT.replace(Arc::as_ptr(&team)) };
    f()
}

/// The team is this thread's until `f` returns or unwinds; then its helpers stop.
struct OnDuty<'a> {
    team: &'a Team,
    outer: *const Team,
}

impl Drop for OnDuty<'_> {
    fn drop(&mut self) {
        CURRENT.set(self.outer);
        self.team.stop.store(true, Ordering::Release);
    }
}

/// Runs `task(0)`, …, `task(tasks - 1)` on the current team (the caller checked there is
/// one), returning when all have.
pub fn run(tasks: usize, task: Task) {
    assert!(tasks < 1 << State::BITS, "at most 2^24 tasks per loop");
    // SAFETY: set by `spinning` on this thread, whose `Arc` outlives its `f` and so this call.
    let team = unsafe { &*CURRENT.get() };
    let previous = team.state.load(Ordering::Relaxed);
    let loop_number = ((previous >> (2 * State::BITS)) + 1) & State::LOOPS;
    team.finished.store(0, Ordering::Relaxed);
    team.job.store(&task as *const Task as *mut (), Ordering::Relaxed);
    // Release: a thread whose claim sees this loop sees its job and a zeroed count too.
    team.state.store(State::pack(loop_number, tasks, 0), Ordering::Release);
    team.work();
    let mut spins = 0u32;
    while team.finished.load(Ordering::Acquire) < tasks {
        // A task claimed by a thread the system has descheduled: after a while, let it run.
        spins += 1;
        if spins.is_multiple_of(4096) {
            std::thread::yield_now();
        }
        spin_loop();
    }
    assert!(!team.failed.load(Ordering::Relaxed), "a task of the forward's loop panicked on another thread");
}

/// Counts a claimed task as finished when it returns or unwinds (so a panic in a helper's
/// task fails the loop instead of leaving the forward's thread waiting for it).
struct Finishing<'a>(&'a Team);

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::Relaxed);
        }
        self.0.finished.fetch_add(1, Ordering::Release);
    }
}

impl Team {
    /// Claims and runs tasks of the current loop until none is left; whether it ran any.
    fn work(&self) -> bool {
        let mut ran = false;
        let mut state = self.state.load(Ordering::Acquire);
        while State::next(state) < State::tasks(state) {
            match self.state.compare_exchange_weak(state, state + 1, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => {
                    // SAFETY: this claimed task is unfinished, so its loop has not ended and
                    // `job` still points at the loop's `Task` (stored before the state).
                    let task = unsafe { *(self.job.load(Ordering::Relaxed) as *const Task) };
                    let _finishing = Finishing(self);
                    task(State::next(state));
                    ran = true;
                    state = self.state.load(Ordering::Acquire);
                }
                Err(now) => state = now,
            }
        }
        ran
    }

    /// A helper: spins for the forward's loops until it stops, running other pool work now and
    /// then. A task that panics here fails its loop on the forward's thread (`run`), not the
    /// pool.
    fn help(&self) {
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work())).unwrap_or(true) {
                idle = 0;
                continue;
            }
            idle += 1;
            if idle.is_multiple_of(64) && matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                continue;
            }
            spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    /// Many short loops, as a forward: every task runs once, on any of the team's threads.
    fn loops() -> Vec<usize> {
        let counts: Vec<AtomicUsize> = (0..257).map(|_| AtomicUsize::new(0)).collect();
        for tasks in [1, 2, 3, 7, 64, 257] {
            for _ in 0..50 {
                let task = |i: usize| _ = counts[i].fetch_add(1, Ordering::Relaxed);
                // A pool of one thread has no team: the tasks in order.
                if is_active() { run(tasks, &task) } else { (0..tasks).for_each(task) }
            }
        }
        counts.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }

    fn expected() -> Vec<usize> {
        (0..257).map(|i| [1, 2, 3, 7, 64, 257].iter().filter(|&&t| i < t).count() * 50).collect()
    }

    #[test]
    fn every_task_runs_once_per_loop() {
        for threads in [1, 2, 3] {
            assert_eq!(pool(threads).install(|| spinning(loops)), expected(), "{threads} threads");
        }
        // Outside a pool (the browser's module thread): the global pool's threads help.
        assert_eq!(spinning(loops), expected());
    }

    #[test]
    fn teams_that_overlap_finish() {
        // `cc2d detect`'s two images in flight on one pool of 2: each forward's team, the
        // helpers of one running the other's work. Both finish, every task once.
        let pool = pool(2);
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..2).map(|_| s.spawn(|| (0..20).map(|_| pool.install(|| spinning(loops))).collect::<Vec<_>>())).collect();
            for r in runs {
                assert!(r.join().unwrap().iter().all(|counts| *counts == expected()));
            }
        });
    }

    #[test]
    fn a_panic_in_a_loop_fails_the_forward_instead_of_hanging_it() {
        let pool = pool(2);
        for _ in 0..20 {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.install(|| {
                    spinning(|| {
                        assert!(is_active());
                        run(64, &|i| assert!(i != 33, "task 33 fails"));
                    })
                })
            }));
            assert!(outcome.is_err());
        }
        // The pool still works, and no team is left behind.
        assert_eq!(pool.install(|| spinning(loops)), expected());
        assert!(!is_active());
    }

    #[test]
    fn loops_outside_a_team_are_left_to_rayon() {
        assert!(!is_active());
        assert!(pool(2).install(|| spinning(is_active)));
        assert!(!is_active());
    }
}
