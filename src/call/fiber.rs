//! Fibers: a call's synchronous script on a stack of its own, driven by the call's task.
//!
//! A script reads top to bottom: `ask()` returns once the caller has answered. Run on an OS
//! thread per call, every verb costs two cross-thread wake-ups (script → actor, actor → script)
//! and two context switches; under load that was most of rivr's CPU time (BENCHMARKS.md, "End to
//! end"). A fiber runs the same synchronous code on a stack of its own, and a verb *suspends* it
//! with the command: the call's task (`call::actor::drive`) carries the command out on the
//! switch and resumes the fiber with the outcome. No OS thread blocks, and a completion event
//! leads to the next command within one poll of one task.
//!
//! Fairness: a fiber runs on a runtime worker, so a script computing between verbs would hold
//! that worker. The engine's progress hook calls [`CallHandle::pause_if_due`], which suspends the
//! fiber once it has run for [`SLICE`] since it was last resumed; the driver yields to the runtime
//! and resumes it after the other ready tasks. A busy loop therefore delays other calls by at
//! most a slice at a time, and the compute budget still ends it.
//!
//! # The rule a fiber's code must keep
//!
//! A fiber may be suspended on one runtime worker and resumed on another, so nothing tied to a
//! thread may live on its stack across a verb: no `MutexGuard` (its unlock must come from the
//! thread that locked), no entered `tracing` span guard, no `thread_local!` borrow. The
//! compiler cannot see this (hence `unsafe impl Send for Fiber`), so what can be checked is:
//! - code that runs on fibers (`script::api`, `script::runner`, `call::handle`,
//!   `call::pattern`) takes locks only with [`lock`] (a test reads those files and refuses a
//!   plain `.lock()`);
//! - in debug builds (every test), a suspension with a [`lock`] guard alive, or inside a span the
//!   fiber entered itself, panics at once with the reason;
//! - the driver, not the fiber, enters the call's span around each resume.
//!
//! One case is outside rivr's code: Rhai (1.27, `eval/target.rs`, `Target::SharedValue`) holds a
//! `std::sync::RwLock` write guard on a variable captured by a closure while a method runs on
//! it, so `captured.step()` where `step` runs a verb suspends with Rhai's guard held. That is
//! sound today only because std's Linux `RwLock` is a futex any thread may release; a lock
//! implementation that checks its owner would break it. Not observed, only read in the source.
//!
//! Stacks: `stack_size` of address space each (untouched pages cost no memory), reused between
//! calls up to `max_idle`, with everything but their top [`KEPT_STACK`] given back to the OS when
//! they are put aside, so one deep call does not keep its pages for ever.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosensei::stack::{DefaultStack, Stack};
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::call::{CallError, CallHandle, CallState, Command, Origin, Outcome};

/// How long a fiber computes before it lets the other calls on its worker run.
pub const SLICE: Duration = Duration::from_millis(1);

/// The top of an idle stack kept mapped: what an everyday flow touches, so reusing the stack
/// costs no page faults.
pub const KEPT_STACK: usize = 128 * 1024;

/// How often a fiber dropped before its end is resumed (with "the call ended") to let it wind
/// down before its stack is unwound by force.
const WIND_DOWN_STEPS: usize = 1_000;

/// A command's result, as the fiber is resumed with it.
pub type Answer = Result<Outcome, CallError>;

/// Why a fiber stopped running.
#[derive(Debug)]
pub enum Step<R> {
    /// The script runs a verb: carry `command` out and resume with its result.
    Request {
        /// What to do.
        command: Command,
        /// Where in the script the verb is.
        origin: Option<Origin>,
    },
    /// The script used its slice: let other tasks run, then resume (with `None`).
    Pause,
    /// The body returned this.
    Finished(R),
}

/// Why a fiber suspended, as it travels through the coroutine.
enum Suspend {
    Request(Command, Option<Origin>),
    Pause,
}

/// What a fiber is resumed with: the answer to its request, `None` when nobody will answer (the
/// call's task is gone). After a pause the value means nothing.
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
    /// Debug builds: the span the driver had entered when it last resumed the fiber (0: none).
    #[cfg(debug_assertions)]
    span_at_resume: AtomicU64,
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
        Link {
            yielder,
            stack,
            epoch,
            resumed: AtomicU64::new(0),
            #[cfg(debug_assertions)]
            span_at_resume: AtomicU64::new(current_span_id()),
        }
    }

    /// Hand `command` to the driver and wait, suspended, for its result (`None`: nobody will
    /// answer).
    pub(crate) fn exchange(&self, command: Command, origin: Option<Origin>) -> Option<Answer> {
        self.suspend(Suspend::Request(command, origin))
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
        #[cfg(debug_assertions)]
        self.check_nothing_thread_bound_is_held();
        // SAFETY: this code runs on the fiber's stack (checked above), so the coroutine is
        // running and its yielder, which lives on that stack for the body's whole run, is alive.
        let resume = unsafe { (*self.yielder).suspend(why) };
        self.resumed.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        #[cfg(debug_assertions)]
        self.span_at_resume.store(current_span_id(), Ordering::Relaxed);
        resume
    }

    /// Debug builds: the fiber is about to be suspended, and may be resumed on another thread.
    #[cfg(debug_assertions)]
    fn check_nothing_thread_bound_is_held(&self) {
        let held = HELD_LOCKS.with(std::cell::Cell::get);
        assert!(
            held == 0,
            "{held} lock(s) taken with fiber::lock are held across a verb; release them first \
             (the fiber may be resumed on another thread; see call::fiber's module doc)"
        );
        assert!(
            current_span_id() == self.span_at_resume.load(Ordering::Relaxed),
            "a tracing span entered on a fiber is held across a verb; enter it around the \
             computation only (see call::fiber's module doc)"
        );
    }
}

/// The id of the span this thread has entered, 0 for none.
#[cfg(debug_assertions)]
fn current_span_id() -> u64 {
    tracing::Span::current().id().map_or(0, |id| id.into_u64())
}

#[cfg(debug_assertions)]
thread_local! {
    /// Guards from [`lock`] alive on this thread.
    static HELD_LOCKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Lock `mutex` from code that runs on a fiber (a poisoned lock is taken as it is: the data
/// behind rivr's locks stays consistent between statements). Debug builds count the guard, and
/// a verb run while it is alive panics instead of moving it to another thread.
pub fn lock<T>(mutex: &Mutex<T>) -> Guard<'_, T> {
    let inner = mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    #[cfg(debug_assertions)]
    HELD_LOCKS.with(|held| held.set(held.get() + 1));
    Guard { inner }
}

/// A lock taken with [`lock`]: must be released before the next verb.
pub struct Guard<'a, T> {
    inner: std::sync::MutexGuard<'a, T>,
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        HELD_LOCKS.with(|held| held.set(held.get().saturating_sub(1)));
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

    /// A fiber that will run `body` with a handle to the call whose state is `state`. Nothing
    /// runs until it is resumed (see `call::actor::drive`).
    ///
    /// # Errors
    /// When the OS refuses the stack's memory.
    pub fn fiber<R, F>(self: &Arc<Self>, state: Arc<CallState>, body: F) -> std::io::Result<Fiber<R>>
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
        Ok(Fiber { coroutine: Some(coroutine), pool: self.clone(), state })
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

/// One call's script, suspended between verbs; its stack goes back to the pool when it ends.
pub struct Fiber<R> {
    coroutine: Option<Coroutine<Resume, Suspend, R, DefaultStack>>,
    pool: Arc<Fibers>,
    state: Arc<CallState>,
}

// SAFETY: a `Coroutine` is not `Send` because values on its stack might not be. The body is `Send`
// (bound in `Fibers::fiber`), and what it puts on the stack are the script engine's values
// (Rhai's `sync` build: `Send + Sync`) and rivr's own; none is tied to the thread that resumed the
// fiber across a suspension: the call's tracing span is entered by the driver around each
// resume, not inside the fiber, and no lock is held across a verb. The module doc says what is
// checked of this rule (fiber-side code locks with `lock`; debug builds catch a guard or an
// entered span alive at a suspension); the rest is for a reviewer to keep.
unsafe impl<R: Send> Send for Fiber<R> {}

impl<R> std::fmt::Debug for Fiber<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fiber").field("finished", &self.coroutine.is_none()).finish_non_exhaustive()
    }
}

impl<R> Fiber<R> {
    /// The state the fiber's call handle shares with whoever drives the call.
    pub fn state(&self) -> &Arc<CallState> {
        &self.state
    }

    /// Run the script until its next verb, pause or end. `answer` is the result of the verb it
    /// asked for last (`None` the first time, after a pause, and when nobody can answer).
    ///
    /// # Panics
    /// When resumed after it finished; and a panic in the body carries on here (the script
    /// runner catches the engine's own).
    pub fn resume(&mut self, answer: Option<Answer>) -> Step<R> {
        let coroutine = self.coroutine.as_mut().expect("a finished fiber is not resumed");
        match coroutine.resume(answer) {
            CoroutineResult::Yield(Suspend::Request(command, origin)) => Step::Request { command, origin },
            CoroutineResult::Yield(Suspend::Pause) => Step::Pause,
            CoroutineResult::Return(value) => {
                self.recycle();
                Step::Finished(value)
            }
        }
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
            // Dropped with the script suspended (the runtime is shutting down). Answer it as if
            // the call had ended, so it stops the way it does on a hangup, runs `on_hangup` and
            // drops its values on its own stack.
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

    /// The files whose code runs on a script's fiber.
    const FIBER_SIDE: [(&str, &str); 12] = [
        ("script/api/mod.rs", include_str!("../script/api/mod.rs")),
        ("script/api/control.rs", include_str!("../script/api/control.rs")),
        ("script/api/media.rs", include_str!("../script/api/media.rs")),
        ("script/api/input.rs", include_str!("../script/api/input.rs")),
        ("script/api/dial.rs", include_str!("../script/api/dial.rs")),
        ("script/api/record.rs", include_str!("../script/api/record.rs")),
        ("script/api/vars.rs", include_str!("../script/api/vars.rs")),
        ("script/api/http.rs", include_str!("../script/api/http.rs")),
        ("script/api/clock.rs", include_str!("../script/api/clock.rs")),
        ("script/runner.rs", include_str!("../script/runner.rs")),
        ("call/handle.rs", include_str!("handle.rs")),
        ("call/pattern.rs", include_str!("pattern.rs")),
    ];

    #[test]
    fn code_on_a_fiber_locks_only_through_fiber_lock() {
        for (file, text) in FIBER_SIDE {
            let plain = text
                .lines()
                .position(|line| line.contains(".lock()") && !line.trim_start().starts_with("//"));
            assert_eq!(plain, None, "src/{file}: a plain `.lock()` on a fiber; use call::fiber::lock");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    fn a_lock_held_across_a_verb_is_caught_before_the_fiber_moves() {
        let fibers = Fibers::new(STACK, 4);
        let shared = Arc::new(Mutex::new(0));
        let inside = shared.clone();
        let mut fiber = fiber(&fibers, move |handle| {
            let guard = lock(&inside);
            let _ = handle.execute(Command::Answer);
            drop(guard);
        });
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fiber.resume(None)));
        let message = match panicked {
            Err(payload) => payload.downcast_ref::<String>().cloned().unwrap_or_default(),
            Ok(step) => panic!("the fiber suspended holding a lock: {step:?}"),
        };
        assert!(message.contains("held across a verb"), "{message}");
    }

    #[test]
    #[cfg(debug_assertions)]
    fn a_span_entered_on_a_fiber_and_held_across_a_verb_is_caught() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let fibers = Fibers::new(STACK, 4);
            let mut fiber = fiber(&fibers, move |handle| {
                let span = tracing::info_span!("inside");
                let _entered = span.enter();
                let _ = handle.execute(Command::Answer);
            });
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fiber.resume(None)));
            let message = match panicked {
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
                    .unwrap_or_default(),
                Ok(step) => panic!("the fiber suspended inside its own span: {step:?}"),
            };
            assert!(message.contains("span entered on a fiber"), "{message}");
        });
    }

    const STACK: usize = 256 * 1024;

    fn fiber<R: Send + 'static>(
        fibers: &Arc<Fibers>,
        body: impl FnOnce(CallHandle) -> R + Send + 'static,
    ) -> Fiber<R> {
        fibers.fiber(Arc::new(CallState::default()), body).expect("stack")
    }

    #[test]
    fn a_fiber_suspends_at_each_verb_and_takes_its_answer() {
        let fibers = Fibers::new(STACK, 4);
        let mut fiber = fiber(&fibers, |handle| {
            let first = handle.execute(Command::Answer);
            let second = handle.execute(Command::GetVar("x".into()));
            (first, second)
        });
        let mut asked = Vec::new();
        let mut answer = None;
        let result = loop {
            match fiber.resume(answer.take()) {
                Step::Request { command, .. } => {
                    asked.push(command.verb());
                    answer = Some(Ok(Outcome::Value(Some(command.verb().to_string()))));
                }
                Step::Pause => {}
                Step::Finished(result) => break result,
            }
        };
        assert_eq!(asked, ["answer", "get_var"]);
        assert_eq!(result.0, Ok(Outcome::Value(Some("answer".into()))));
        assert_eq!(result.1, Ok(Outcome::Value(Some("get_var".into()))));
        assert_eq!(fibers.idle(), 1, "the stack is kept for the next call");
    }

    #[test]
    fn a_fiber_nobody_answers_gets_the_hangup_error() {
        let fibers = Fibers::new(STACK, 4);
        let mut fiber = fiber(&fibers, |handle| {
            let first = handle.execute(Command::Answer);
            (first.is_err(), handle.is_hung_up())
        });
        assert!(matches!(fiber.resume(None), Step::Request { .. }));
        match fiber.resume(None) {
            Step::Finished(result) => assert_eq!(result, (true, true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_computing_fiber_pauses_once_its_slice_is_used() {
        let fibers = Fibers::new(STACK, 4);
        let mut fiber = fiber(&fibers, |handle| {
            for _ in 0..3 {
                // A whole slice of computing since the last resume: the check must pause.
                let started = Instant::now();
                while started.elapsed() < SLICE {
                    std::hint::spin_loop();
                }
                handle.pause_if_due();
            }
        });
        let mut pauses = 0;
        while let Step::Pause = fiber.resume(None) {
            pauses += 1;
        }
        assert_eq!(pauses, 3);
    }

    #[test]
    fn a_handle_used_off_its_fiber_panics_instead_of_suspending_the_wrong_stack() {
        let fibers = Fibers::new(STACK, 4);
        let mut fiber = fiber(&fibers, |handle| handle);
        let Step::Finished(escaped) = fiber.resume(None) else { panic!("the body returns at once") };
        let used =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| escaped.execute(Command::Answer)));
        let message = used.expect_err("must panic");
        let text = message.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(text.contains("used outside its fiber"), "{text}");
    }

    #[test]
    fn dropping_a_suspended_fiber_winds_its_script_down_as_a_hangup() {
        let fibers = Fibers::new(STACK, 4);
        let (done, finished) = std::sync::mpsc::channel();
        let mut fiber = fiber(&fibers, move |handle| {
            let first = handle.execute(Command::Answer);
            let on_hangup = handle.execute(Command::GetVar("x".into()));
            done.send((first.is_err(), on_hangup.is_err(), handle.state().end())).expect("send");
        });
        assert!(matches!(fiber.resume(None), Step::Request { .. }));
        drop(fiber);
        let (first_failed, later_failed, cause) = finished.recv().expect("the script ran to its end");
        assert!(first_failed && later_failed);
        assert_eq!(cause, crate::cause::CallEnd::HungUp("SYSTEM_SHUTDOWN".into()));
        assert_eq!(fibers.idle(), 1);
    }

    #[test]
    fn a_panic_in_a_fiber_reaches_its_driver_and_the_pool_stays_usable() {
        let fibers = Fibers::new(STACK, 4);
        let mut failing = fiber(&fibers, |handle| {
            let _ = handle.execute(Command::Answer);
            panic!("a bug in a verb");
        });
        assert!(matches!(failing.resume(None), Step::Request { .. }));
        let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| failing.resume(None)));
        assert!(resumed.is_err(), "the panic carries on in the driver");
        drop(failing);
        assert_eq!(fibers.idle(), 1, "the stack of the failed fiber is reused");
        let mut next = fiber(&fibers, |_| 42);
        assert!(matches!(next.resume(None), Step::Finished(42)));
    }

    /// Bytes of the idle stacks that are resident, page by page (`mincore`).
    fn idle_resident(fibers: &Fibers) -> usize {
        let page = 4096;
        let idle = fibers.idle.lock().expect("pool");
        let mut resident = 0;
        for stack in idle.iter() {
            let (low, high) = (stack.limit().get(), stack.base().get());
            let mut pages = vec![0u8; (high - low).div_ceil(page)];
            // SAFETY: the range is the stack's own mapping, page aligned; `pages` has one byte per
            // page of it.
            let result = unsafe { libc::mincore(low as *mut libc::c_void, high - low, pages.as_mut_ptr()) };
            assert_eq!(result, 0, "mincore: {}", std::io::Error::last_os_error());
            resident += pages.iter().filter(|&&p| p & 1 == 1).count() * page;
        }
        resident
    }

    #[test]
    fn a_deep_call_gives_its_stack_pages_back_when_the_stack_is_put_aside() {
        let fibers = Fibers::new(8 * 1024 * 1024, 4);
        let mut fiber = fiber(&fibers, |_| {
            // Touch 4 MiB of the fiber's stack.
            let mut deep = [1u8; 4 * 1024 * 1024];
            std::hint::black_box(&mut deep);
            deep.len()
        });
        assert!(matches!(fiber.resume(None), Step::Finished(_)));
        assert_eq!(fibers.idle(), 1);
        let resident = idle_resident(&fibers);
        assert!(resident <= KEPT_STACK, "{resident} bytes of the idle stack are still resident");
        assert!(resident > 0, "the top of the stack stays mapped for the next call");
    }
}
