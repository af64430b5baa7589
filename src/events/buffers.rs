//! The buffers events are written into, used again and again instead of allocated per event.
//!
//! An event is written on its call's thread and dropped on another: the sink's, once NATS or a
//! webhook has taken it. With glibc's allocator, memory freed on another thread than the one
//! that allocated it goes back under the allocating arena's lock, and at tens of thousands of
//! events a second the call threads and the sinks contended for it (a quarter of the NATS
//! sink's samples, BENCHMARKS.md). So a dropped event's buffer goes to a lock-free pool instead,
//! and the next event, on any call thread, takes it from there.

use std::sync::OnceLock;

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;

/// Buffers kept for reuse: enough for the events of a few hundred calls in flight.
const POOLED: usize = 4096;

/// A buffer grown past this (a large published event) is freed rather than kept.
const LARGEST_POOLED: usize = 4096;

/// The process' pool.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(POOLED))
}

/// An empty buffer with room for `capacity` bytes, from the pool when it has one.
pub fn take(capacity: usize) -> Vec<u8> {
    pool().take(capacity)
}

/// `buf` as an event's bytes, handed back to the pool once the last of them is dropped.
pub fn share(buf: Vec<u8>) -> Bytes {
    pool().share(buf)
}

/// Buffers waiting to be used again.
struct Pool(ArrayQueue<Vec<u8>>);

impl Pool {
    fn new(size: usize) -> Self {
        Pool(ArrayQueue::new(size))
    }

    fn take(&self, capacity: usize) -> Vec<u8> {
        match self.0.pop() {
            Some(mut buf) => {
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    fn share(&'static self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, home: self })
    }
}

/// A buffer on its way back to its pool.
struct Pooled {
    buf: Vec<u8>,
    home: &'static Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.buf.capacity() <= LARGEST_POOLED {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            // A full pool frees the buffer here, as it would have been without one.
            let _ = self.home.0.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_of(size: usize) -> &'static Pool {
        Box::leak(Box::new(Pool::new(size)))
    }

    #[test]
    fn a_dropped_events_buffer_is_taken_again_empty() {
        let pool = pool_of(4);
        let mut buf = pool.take(640);
        buf.extend_from_slice(b"{\"id\":\"a-1\"}");
        let address = buf.as_ptr();
        let bytes = pool.share(buf);
        let copy = bytes.clone();
        drop(bytes);
        assert_eq!(&copy[..], b"{\"id\":\"a-1\"}", "the bytes live while any copy does");
        assert!(pool.0.is_empty());
        drop(copy);
        let again = pool.take(640);
        assert_eq!(again.as_ptr(), address, "the next event writes into the same buffer");
        assert!(again.is_empty() && again.capacity() >= 640);
    }

    #[test]
    fn a_buffer_grown_large_is_freed_and_a_full_pool_frees_the_rest() {
        let pool = pool_of(1);
        let mut large = pool.take(16);
        large.resize(LARGEST_POOLED + 1, b'x');
        drop(pool.share(large));
        assert!(pool.0.is_empty(), "a large buffer is not kept");
        drop(pool.share(pool.take(64)));
        drop(pool.share(pool.take(64)));
        assert_eq!(pool.0.len(), 1, "the pool keeps what it has room for");
    }
}
