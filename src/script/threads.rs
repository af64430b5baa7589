//! `ScriptThreads`: script threads kept for reuse between calls.
//!
//! Every call's script needs an OS thread with `engine::STACK_SIZE` of stack. Creating one per
//! call means mapping and unmapping that stack every time (glibc caches only a couple of stacks
//! that large), which costs system time and cross-core TLB flushes under load. A thread that
//! finished a call waits here for the next one instead, up to `max_idle` threads.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::script::engine::STACK_SIZE;

type Task = Box<dyn FnOnce() + Send>;

/// A pool of idle script threads.
pub struct ScriptThreads {
    idle: Mutex<Vec<mpsc::Sender<Task>>>,
    max_idle: usize,
}

impl ScriptThreads {
    /// A pool keeping at most `max_idle` idle threads.
    pub fn new(max_idle: usize) -> Arc<Self> {
        Arc::new(ScriptThreads { idle: Mutex::new(Vec::new()), max_idle })
    }

    /// Run `task` on an idle script thread, or on a new one.
    ///
    /// # Errors
    /// When the OS refuses a new thread.
    pub fn run(self: &Arc<Self>, task: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let mut task: Task = Box::new(task);
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(worker) = idle else { break };
            match worker.send(task) {
                Ok(()) => return Ok(()),
                // That thread is gone; take the task back and try the next one.
                Err(mpsc::SendError(returned)) => task = returned,
            }
        }
        let pool = self.clone();
        std::thread::Builder::new().name("rivr-call".into()).stack_size(STACK_SIZE).spawn(move || {
            let (sender, inbox) = mpsc::channel::<Task>();
            let mut task = task;
            loop {
                task();
                {
                    let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
                    if idle.len() >= pool.max_idle {
                        return;
                    }
                    idle.push(sender.clone());
                }
                match inbox.recv() {
                    Ok(next) => task = next,
                    Err(_) => return,
                }
            }
        })?;
        Ok(())
    }

    /// How many threads wait for a call.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_thread_runs_the_next_task() {
        let pool = ScriptThreads::new(4);
        let (done, finished) = mpsc::channel();
        let first = done.clone();
        pool.run(move || first.send(std::thread::current().id()).expect("send")).expect("run");
        let first_thread = finished.recv().expect("first");
        while pool.idle() == 0 {
            std::thread::yield_now();
        }
        pool.run(move || done.send(std::thread::current().id()).expect("send")).expect("run");
        assert_eq!(finished.recv().expect("second"), first_thread);
    }
}
