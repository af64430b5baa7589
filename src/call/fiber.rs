//! Fibers: a call's synchronous script on a stack of its own, inside the call's tokio task.
//!
//! A script reads top to bottom: `ask()` returns once the caller has answered. Run on an OS
//! thread per call, every verb costs two cross-thread wake-ups (script → actor, actor → script)
//! and two context switches; under load that was most of rivr's CPU time (BENCHMARKS.md, "End to
//! end"). A fiber runs the same synchronous code on a stack of its own, and a verb *suspends* it:
//! the fiber's driver, an ordinary future, sends the request to the call's actor, awaits the
//! answer and resumes the fiber with it. No OS thread blocks, and a call costs a task and a stack.
//!
//! Fairness: a fiber runs on a runtime worker, so a script computing between verbs would hold
//! that worker. The engine's progress hook calls [`CallHandle::pause_if_due`], which suspends the
//! fiber once it has run for [`SLICE`] since it was last resumed; the driver yields to the runtime
//! and resumes it after the other ready tasks. A busy loop therefore delays other calls by at
//! most a slice at a time, and the compute budget still ends it.
//!
//! Stacks: `stack_size` of address space each (untouched pages cost no memory), reused between
//! calls up to `max_idle`, with everything but their top [`KEPT_STACK`] given back to the OS when
//! they are put aside, so one deep call does not keep its pages for ever.

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosensei::stack::{DefaultStack, Stack};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use tokio::sync::{mpsc, oneshot};

use crate::call::{CallError, CallHandle, CallState, Outcome, Request};

/// How long a fiber computes before it lets the other calls on its worker run.
pub const SLICE: Duration = Duration::from_millis(1);

/// The top of an idle stack kept mapped: what an everyday flow touches, so reusing the stack
/// costs no page faults.
pub const KEPT_STACK: usize = 128 * 1024;

/// How often a fiber whose driver was dropped is resumed (with "the call ended") to let it wind
/// down before its stack is unwound by force.
const WIND_DOWN_STEPS: usize = 1_000;

type Answer = Result<Outcome, CallError>;

/// Why a fiber suspended.
enum Suspend {
    /// Send this request to the actor; resume with the answer.
    Request(Box<Request>, oneshot::Receiver<Answer>),
    /// The fiber used its slice; resume it after the other ready tasks.
    Pause,
}

/// What a fiber is resumed with: the answer to its request, `None` when the actor is gone.
/// After a pause the value means nothing.
type Resume = Option<Answer>;

/// A fiber's way back to its driver, held by the fiber's `CallHandle`.
pub(crate) struct Link {
    /// The coroutine's yielder. It lives on the fiber's own stack for as long as the fiber's body
    /// runs, which outlasts every handle the body made.
    yielder: *const Yielder<Resume, Suspend>,
    /// The fiber's stack, to check that a suspension comes from the fiber itself.
    stack: Range<usize>,
    epoch: Instant,
    /// When the fiber was last resumed, in nanoseconds since `epoch`.
    resumed: AtomicU64,
}

// SAFETY: `yielder` is only dereferenced in `suspend`, after checking that the caller runs on the
// fiber's stack: the coroutine is then running and its yielder alive. Everything else is `Sync`.
unsafe impl Send for Link {}
// SAFETY: as above.
unsafe impl Sync for Link {}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("fiber::Link").field("stack", &self.stack).finish_non_exhaustive()
    }
}

impl Link {
    fn new(yielder: &Yielder<Resume, Suspend>, stack: Range<usize>) -> Self {
        let epoch = Instant::now();
        Link { yielder, stack, epoch, resumed: AtomicU64::new(0) }
    }

    /// Hand `request` to the driver and wait, suspended, for its answer (`None`: the actor is
    /// gone).
    pub(crate) fn exchange(
        &self,
        request: Box<Request>,
        answer: oneshot::Receiver<Answer>,
    ) -> Option<Answer> {
        self.suspend(Suspend::Request(request, answer))
    }

    /// Let other calls run if this fiber has computed for a whole slice since it was resumed.
    pub(crate) fn pause_if_due(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        if now.saturating_sub(self.resumed.load(Ordering::Relaxed)) >= SLICE.as_nanos() as u64 {
            self.suspend(Suspend::Pause);
        }
    }

    fn suspend(&self, why: Suspend) -> Resume {
        let probe = 0u8;
        let here = std::hint::black_box(&probe) as *const u8 as usize;
        assert!(self.stack.contains(&here), "a fiber's call handle was used outside its fiber");
        // SAFETY: this code runs on the fiber's stack (checked above), so the coroutine is
        // running and its yielder, which lives on that stack for the body's whole run, is alive.
        let resume = unsafe { (*self.yielder).suspend(why) };
        self.resumed.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        resume
    }
}

/// Fiber stacks kept for the next calls.
pub struct Fibers {
    stack_size: usize,
    max_idle: usize,
    idle: Mutex<Vec<DefaultStack>>,
}

impl std::fmt::Debug for Fibers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fibers")
            .field("stack_size", &self.stack_size)
            .field("max_idle", &self.max_idle)
            .field("idle", &self.idle())
            .finish()
    }
}

impl Fibers {
    /// Fibers with `stack_size` bytes of stack each, keeping at most `max_idle` stacks between
    /// calls.
    pub fn new(stack_size: usize, max_idle: usize) -> Arc<Self> {
        Arc::new(Fibers { stack_size, max_idle, idle: Mutex::new(Vec::new()) })
    }

    /// How many stacks wait for a call.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Prepare `body` to run on a fiber of its own, driving the call whose actor reads
    /// `requests` and shares `state`. The body gets the call's handle; the returned future runs
    /// the body to its end and yields what it returns. Nothing runs until the future is polled.
    ///
    /// # Errors
    /// When the OS refuses the stack's memory.
    pub fn start<R, F>(
        self: &Arc<Self>,
        requests: mpsc::Sender<Box<Request>>,
        state: Arc<CallState>,
        body: F,
    ) -> std::io::Result<impl Future<Output = R> + Send + 'static>
    where
        F: FnOnce(CallHandle) -> R + Send + 'static,
        R: Send + 'static,
    {
        let stack = self.take_stack()?;
        let bounds = stack.limit().get()..stack.base().get();
        let handle_state = state.clone();
        let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder<Resume, Suspend>, _: Resume| {
            let link = Arc::new(Link::new(yielder, bounds));
            body(CallHandle::on_fiber(link, handle_state))
        });
        let mut fiber = Fiber { coroutine: Some(coroutine), pool: self.clone(), state };
        Ok(async move {
            let mut input = None;
            loop {
                match fiber.resume(input) {
                    CoroutineResult::Yield(Suspend::Request(request, answer)) => {
                        input = match requests.send(request).await {
                            Ok(()) => answer.await.ok(),
                            Err(_) => None,
                        };
                    }
                    CoroutineResult::Yield(Suspend::Pause) => {
                        tokio::task::yield_now().await;
                        input = None;
                    }
                    CoroutineResult::Return(value) => {
                        fiber.recycle();
                        return value;
                    }
                }
            }
        })
    }

    fn take_stack(&self) -> std::io::Result<DefaultStack> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(stack) => Ok(stack),
            None => DefaultStack::new(self.stack_size),
        }
    }

    fn put_stack(&self, stack: DefaultStack) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= self.max_idle {
            return;
        }
        let (low, high) = (stack.limit().get(), stack.base().get().saturating_sub(KEPT_STACK));
        if high > low {
            // SAFETY: the range lies inside the stack's own private anonymous mapping, and no
            // fiber runs on the stack (its coroutine finished), so nothing refers to those pages;
            // they read back as zeros when the next fiber touches them.
            let result = unsafe { libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED) };
            if result != 0 {
                tracing::debug!(error = %std::io::Error::last_os_error(), "cannot release a fiber stack's deep pages");
            }
        }
        idle.push(stack);
    }
}

/// A fiber and its stack pool, owned by its driver future.
struct Fiber<R> {
    coroutine: Option<Coroutine<Resume, Suspend, R, DefaultStack>>,
    pool: Arc<Fibers>,
    state: Arc<CallState>,
}

// SAFETY: a `Coroutine` is not `Send` because values on its stack might not be. The body is `Send`
// (bound in `Fibers::start`), and what it puts on the stack are the script engine's values (Rhai's
// `sync` build: `Send + Sync`) and rivr's own; none is tied to the thread that resumed the fiber
// across a suspension: the call's tracing span is entered by the driver around each resume, not
// inside the fiber, and no lock is held across a verb.
unsafe impl<R: Send> Send for Fiber<R> {}

impl<R> Fiber<R> {
    fn resume(&mut self, input: Resume) -> CoroutineResult<Suspend, R> {
        self.coroutine.as_mut().expect("a finished fiber is not resumed").resume(input)
    }

    fn recycle(&mut self) {
        if let Some(coroutine) = self.coroutine.take() {
            if coroutine.done() {
                self.pool.put_stack(coroutine.into_stack());
            }
        }
    }
}

impl<R> Drop for Fiber<R> {
    fn drop(&mut self) {
        let Some(coroutine) = self.coroutine.as_mut() else { return };
        if coroutine.started() && !coroutine.done() {
            // The driver was dropped with the script suspended (the runtime is shutting down).
            // Answer it as if the call had ended, so it stops the way it does on a hangup, runs
            // `on_hangup` and drops its values on its own stack.
            self.state.mark_hung_up("SYSTEM_SHUTDOWN");
            for _ in 0..WIND_DOWN_STEPS {
                if let CoroutineResult::Return(_) = coroutine.resume(None) {
                    break;
                }
            }
        }
        // A fiber that still has not finished is unwound by force when it drops here.
        self.recycle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Command;

    const STACK: usize = 256 * 1024;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
    }

    /// An actor that answers every request with `Outcome::Value(Some(<verb>))`.
    fn echo_actor(mut inbox: mpsc::Receiver<Box<Request>>) -> tokio::task::JoinHandle<usize> {
        tokio::spawn(async move {
            let mut served = 0;
            while let Some(request) = inbox.recv().await {
                served += 1;
                let _ = request.reply.send(Ok(Outcome::Value(Some(request.command.verb().to_string()))));
            }
            served
        })
    }

    #[test]
    fn a_fiber_runs_each_verb_through_the_actor_and_returns_the_body_value() {
        let rt = runtime();
        let fibers = Fibers::new(STACK, 4);
        let (requests, inbox) = mpsc::channel(2);
        let verbs = rt.block_on(async {
            let actor = echo_actor(inbox);
            let fiber = fibers
                .start(requests, Arc::new(CallState::default()), |handle| {
                    let mut verbs = Vec::new();
                    for command in [Command::Answer, Command::GetVar("x".into())] {
                        match handle.execute(command) {
                            Ok(Outcome::Value(Some(verb))) => verbs.push(verb),
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    verbs
                })
                .expect("stack");
            let verbs = fiber.await;
            assert_eq!(actor.await.expect("actor"), 2);
            verbs
        });
        assert_eq!(verbs, ["answer", "get_var"]);
        assert_eq!(fibers.idle(), 1, "the stack is kept for the next call");
    }

    #[test]
    fn a_fiber_whose_actor_is_gone_gets_the_hangup_error() {
        let rt = runtime();
        let fibers = Fibers::new(STACK, 4);
        let (requests, inbox) = mpsc::channel(2);
        drop(inbox);
        let result = rt.block_on(async {
            fibers
                .start(requests, Arc::new(CallState::default()), |handle| {
                    let first = handle.execute(Command::Answer);
                    (first.is_err(), handle.is_hung_up())
                })
                .expect("stack")
                .await
        });
        assert_eq!(result, (true, true));
    }

    #[test]
    fn a_computing_fiber_lets_other_tasks_run_on_a_single_worker() {
        let rt = runtime();
        let fibers = Fibers::new(STACK, 4);
        let (requests, _inbox) = mpsc::channel(2);
        let (ticked, mut ticks) = tokio::sync::watch::channel(0u32);
        let pauses = rt.block_on(async {
            // Another call's work on the same (only) worker: it must get turns while the fiber
            // computes.
            let other = tokio::spawn(async move {
                for tick in 1..=3 {
                    ticked.send_replace(tick);
                    tokio::task::yield_now().await;
                }
            });
            let seen = fibers
                .start(requests, Arc::new(CallState::default()), move |handle| {
                    let mut pauses = 0;
                    while *ticks.borrow_and_update() < 3 {
                        let started = Instant::now();
                        while started.elapsed() < SLICE {
                            std::hint::spin_loop();
                        }
                        handle.pause_if_due();
                        pauses += 1;
                    }
                    pauses
                })
                .expect("stack")
                .await;
            other.await.expect("other task");
            seen
        });
        assert!(pauses >= 1);
    }

    #[test]
    fn a_handle_used_off_its_fiber_panics_instead_of_suspending_the_wrong_stack() {
        let rt = runtime();
        let fibers = Fibers::new(STACK, 4);
        let (requests, _inbox) = mpsc::channel(2);
        let escaped = rt.block_on(
            fibers.start(requests, Arc::new(CallState::default()), |handle| handle).expect("stack"),
        );
        let used =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| escaped.execute(Command::Answer)));
        let message = used.expect_err("must panic");
        let text = message.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(text.contains("used outside its fiber"), "{text}");
    }

    #[test]
    fn dropping_a_suspended_fiber_winds_its_script_down_as_a_hangup() {
        let rt = runtime();
        let fibers = Fibers::new(STACK, 4);
        let (requests, inbox) = mpsc::channel(2);
        let (done, finished) = std::sync::mpsc::channel();
        rt.block_on(async {
            let mut fiber = Box::pin(
                fibers
                    .start(requests, Arc::new(CallState::default()), move |handle| {
                        let first = handle.execute(Command::Answer);
                        done.send((first.is_err(), handle.is_hung_up())).expect("send");
                    })
                    .expect("stack"),
            );
            // Poll once: the fiber suspends on its first request, which nobody answers.
            assert!(futures_poll_once(fiber.as_mut()).await.is_none());
            drop(fiber);
            drop(inbox);
        });
        assert_eq!(finished.recv().expect("the script ran to its end"), (true, true));
        assert_eq!(fibers.idle(), 1);
    }

    async fn futures_poll_once<F: Future + Unpin>(mut future: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(value) => std::task::Poll::Ready(Some(value)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}
