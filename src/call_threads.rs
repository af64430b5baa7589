//! The threads calls run on (`call_threads:` in rivr.yaml): one single-threaded tokio runtime
//! per thread, each driving its calls' sockets, tasks and script fibers from start to end.
//!
//! Why not the multi-threaded runtime the rest of rivr uses: a call is a chain of short steps
//! (a frame arrives, the script resumes, a command goes out), and on a work-stealing runtime
//! each step may wake on another worker, with the futex wake-ups, the shared I/O driver and the
//! memory freed on another thread than the one that allocated it. Measured with `compare.sh`'s
//! full FreeSWITCH event volume, keeping each call on one thread took about a seventh off the CPU
//! a call costs (BENCHMARKS.md).
//!
//! What that gives up is stealing: calls stay on the thread that accepted them. Every thread
//! accepts from the one listening socket, so the least busy one, back at its I/O driver first,
//! takes most new calls (`rivr_call_thread_calls{thread}` shows the spread, from [`current`]);
//! and a script computing between verbs gives its thread up every millisecond
//! (`call::fiber::SLICE`), so a busy script delays the other calls on its thread by at most
//! that, as it did a runtime worker before.

use std::future::Future;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

std::thread_local! {
    /// Which call thread this is (its `N` in `rivr-call-N`); `None` on any other thread.
    static THREAD_INDEX: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The call thread the caller runs on (`N` of `rivr-call-N`), or `None` off the call threads
/// (the main runtime, `rivr sim`, tests).
pub fn current() -> Option<usize> {
    THREAD_INDEX.with(std::cell::Cell::get)
}

/// How long stopping waits for a thread to finish the calls it still has.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A pool of threads, each running calls on a runtime of its own.
pub struct CallThreads {
    threads: Vec<CallThread>,
}

struct CallThread {
    handle: Handle,
    /// Dropped to stop the thread.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CallThreads {
    /// Start `count` threads, named `rivr-call-N`.
    ///
    /// # Errors
    /// When the OS refuses a thread or a runtime's I/O driver (out of threads or descriptors).
    pub fn start(count: NonZeroUsize) -> std::io::Result<Self> {
        let mut threads = Vec::with_capacity(count.get());
        for n in 0..count.get() {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::Builder::new().name(format!("rivr-call-{n}")).spawn(move || {
                THREAD_INDEX.with(|index| index.set(Some(n)));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Calls still running are dropped with the runtime: their sockets close, and
                // FreeSWITCH ends what rivr no longer drives.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
            threads.push(CallThread { handle, stop: Some(stop), thread: Some(thread) });
        }
        Ok(CallThreads { threads })
    }

    /// How many call threads to run: `configured` (`call_threads` in rivr.yaml), or
    /// [`CallThreads::default_count`].
    pub fn count(configured: Option<NonZeroUsize>) -> NonZeroUsize {
        configured.unwrap_or_else(Self::default_count)
    }

    /// One thread per CPU core the process may use but one, and at least one. The core left
    /// over is for what is not a call (the API, event sinks, NATS, the log writer) and, as
    /// often, FreeSWITCH on the same host: calls on a thread whose core is taken wait for it.
    pub fn default_count() -> NonZeroUsize {
        NonZeroUsize::new(cores() - 1).unwrap_or(NonZeroUsize::MIN)
    }

    /// Workers for the multi-threaded runtime beside `call_threads` call threads, which serves
    /// the API, event sinks, NATS and reloads: the cores the call threads leave, and at least
    /// one. More would only contend with the call threads for their cores.
    pub fn main_workers(call_threads: NonZeroUsize) -> NonZeroUsize {
        NonZeroUsize::new(cores().saturating_sub(call_threads.get())).unwrap_or(NonZeroUsize::MIN)
    }

    /// How many threads there are.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Never: a pool has at least one thread.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Run `make()`'s future on thread `n` (of [`CallThreads::len`]; taken modulo it). `make`
    /// runs on that thread, so what it builds (a socket registered with the thread's I/O driver)
    /// belongs there, and so does every task the future spawns.
    pub fn spawn_on<M, F>(&self, n: usize, make: M) -> JoinHandle<()>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.threads[n % self.threads.len()].handle.spawn(async move { make().await })
    }

    /// Tasks alive on every call thread, for the node's metrics.
    pub fn alive_tasks(&self) -> usize {
        self.threads.iter().map(|thread| thread.handle.metrics().num_alive_tasks()).sum()
    }
}

/// The CPU cores the process may use, at least one.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

impl Drop for CallThreads {
    fn drop(&mut self) {
        for thread in &mut self.threads {
            drop(thread.stop.take());
        }
        let deadline = std::time::Instant::now() + STOP_WAIT;
        for thread in &mut self.threads {
            let Some(handle) = thread.thread.take() else { continue };
            // Joining blocks; a thread that does not stop in time is left to the process' exit.
            while !handle.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(n: usize) -> CallThreads {
        CallThreads::start(NonZeroUsize::new(n).expect("nonzero")).expect("threads")
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_string()
    }

    #[test]
    fn a_task_runs_on_its_call_thread_and_so_do_the_tasks_it_spawns() {
        let pool = threads(2);
        let (tx, rx) = std::sync::mpsc::channel();
        for n in 0..2 {
            let tx = tx.clone();
            pool.spawn_on(n, move || async move {
                let started = thread_name();
                let index = current();
                tokio::time::sleep(Duration::from_millis(5)).await;
                let spawned = tokio::spawn(async { thread_name() }).await.expect("spawned task");
                tx.send((n, started, spawned, thread_name(), index)).expect("send");
            });
        }
        let mut seen: Vec<_> =
            (0..2).map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("ran")).collect();
        seen.sort();
        for (n, started, spawned, after, index) in seen {
            assert_eq!(started, format!("rivr-call-{n}"));
            assert_eq!(index, Some(n), "the thread knows its number");
            assert_eq!(spawned, started, "a task spawned by a call runs on the call's thread");
            assert_eq!(after, started, "a call does not move between threads");
        }
    }

    #[test]
    fn a_call_that_panics_leaves_its_thread_serving_the_next() {
        let pool = threads(1);
        let failed = pool.spawn_on(0, || async { panic!("a bug in one call") });
        let (tx, rx) = std::sync::mpsc::channel();
        pool.spawn_on(0, move || async move {
            let _ = failed.await;
            tx.send(()).expect("send");
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("the next call runs");
    }

    #[test]
    fn stopping_drops_the_calls_still_running() {
        let pool = threads(2);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        pool.spawn_on(1, move || async move {
            let _held = tx;
            std::future::pending::<()>().await;
        });
        drop(pool);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "the call's task was dropped with its thread's runtime"
        );
    }
}
