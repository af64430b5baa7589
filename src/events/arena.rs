//! Where events are written: each thread writes its events one after another into an arena of
//! its own, one large buffer, and each event's bytes are a shared slice of it.
//!
//! An event is written on its call's thread and dropped on another: the sink's, once NATS or a
//! webhook has taken it. A buffer per event meant an allocation on the call thread and a free
//! on the sink's, and glibc frees memory from another thread under the allocating arena's lock.
//! With the arena, a thread allocates once per [`ARENA_SIZE`] of events (a few hundred), an
//! event costs a reference count, and the arena's memory goes back once its last event is
//! dropped. Writing sequentially into memory the thread just wrote is also kinder to its cache
//! than taking a pooled buffer last touched by another core.

use std::cell::Cell;

use bytes::{Bytes, BytesMut};

/// The size of a thread's arena: about 150 events of ~400 bytes.
pub const ARENA_SIZE: usize = 64 * 1024;

thread_local! {
    /// What is left of this thread's arena after the events split off it.
    static ARENA: Cell<BytesMut> = Cell::new(BytesMut::new());
}

/// An empty buffer with room for at least `capacity` bytes, at the end of this thread's arena
/// (a new arena when the old one has less room left). Give it back through [`finish`].
pub fn take(capacity: usize) -> BytesMut {
    let arena = ARENA.with(Cell::take);
    if arena.capacity() >= capacity {
        return arena;
    }
    // What is left of the old arena is too small for this event: it is freed once the events
    // written into it are.
    BytesMut::with_capacity(capacity.max(ARENA_SIZE))
}

/// The event written into `buf` (from [`take`]) as its own bytes; the rest of the arena is
/// kept for the thread's next event.
pub fn finish(mut buf: BytesMut) -> Bytes {
    let event = buf.split().freeze();
    ARENA.with(|arena| arena.set(buf));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_written_one_after_another_share_the_arena_and_keep_their_own_bytes() {
        let mut first = take(64);
        first.extend_from_slice(b"{\"id\":\"a-1\"}");
        let start = first.as_ptr();
        let first = finish(first);
        let mut second = take(64);
        second.extend_from_slice(b"{\"id\":\"a-2\"}");
        assert_eq!(second.as_ptr(), start.wrapping_add(first.len()), "written right after the first");
        let second = finish(second);
        assert_eq!(&first[..], b"{\"id\":\"a-1\"}");
        assert_eq!(&second[..], b"{\"id\":\"a-2\"}");
        drop(first);
        assert_eq!(&second[..], b"{\"id\":\"a-2\"}", "an event lives as long as its bytes");
    }

    #[test]
    fn an_event_larger_than_the_room_left_gets_a_new_arena_and_one_larger_than_an_arena_grows() {
        let small = finish(take(16));
        let mut large = take(ARENA_SIZE);
        assert!(large.capacity() >= ARENA_SIZE);
        large.resize(ARENA_SIZE * 2, b'x');
        let large = finish(large);
        assert_eq!(large.len(), ARENA_SIZE * 2);
        assert!(small.is_empty());
        let next = take(16);
        assert!(next.capacity() >= 16 && next.is_empty());
    }

    #[test]
    fn a_writer_taken_while_another_is_open_gets_its_own_buffer() {
        let mut outer = take(16);
        let mut inner = take(16);
        inner.extend_from_slice(b"inner");
        outer.extend_from_slice(b"outer");
        let inner = finish(inner);
        let outer = finish(outer);
        assert_eq!((&inner[..], &outer[..]), (&b"inner"[..], &b"outer"[..]));
    }
}
