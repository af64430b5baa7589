//! Giving freed memory back to the operating system while `rivr run` serves.
//!
//! glibc's allocator keeps what a burst of calls freed (measured: ~330 MiB kept after a
//! 10,000-call burst, and a soak's resident size stepping up after each busy minute and staying
//! there). Resident memory is what operators watch and alert on, so rivr asks the allocator to
//! return its free pages periodically. Elsewhere than glibc this does nothing.

use std::time::Duration;

/// How often free memory is handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Hand the allocator's free pages back to the OS every [`TRIM_EVERY`], until the returned task
/// is aborted. Runs on the blocking pool: a trim takes the allocator's locks for a moment, which
/// must not stall a worker thread that serves calls.
pub fn trim_periodically() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut ticks = tokio::time::interval(TRIM_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    })
}

/// Return free heap pages to the OS now.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: `malloc_trim` only walks glibc's own arenas under their locks; it takes no
    // pointers and is safe to call from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Return free heap pages to the OS now (nothing to do with this allocator).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
