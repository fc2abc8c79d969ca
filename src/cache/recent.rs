//! The per-thread memo of recently read snapshots: what makes a cache hit cost one `Arc` clone.
//!
//! Each slot publishes its current snapshot through an `ArcSwapOption`. Loading from it is
//! wait-free but not free: an `arc-swap` guard writes a debt slot and pays it back, two
//! read-modify-writes per read, which was most of a hit (about 25 ns of 29 on the bench). So
//! every publication also stamps the slot with a process-wide unique *generation*, and each
//! thread remembers the last few (generation, snapshot) pairs it read. A hit is then one
//! `Acquire` load of the slot's generation, a scan of four entries of this thread's memo and
//! whatever the caller does with the snapshot. Nothing shared is written.
//!
//! Why it is correct: a generation is drawn from one global counter and stored *after* the
//! snapshot it stands for, with `Release`. A reader that sees generation `g` (with `Acquire`)
//! therefore sees that snapshot or a later one when it loads the slot, so the memo maps `g` to
//! a snapshot at least as new as `g`'s. As generations are never reused, across slots or
//! providers, an entry can only ever match the slot that published it. Expiry is not part of
//! the generation: the reader still checks the snapshot's `expired` flag on every hit.
//!
//! The cost: a thread keeps up to [`ENTRIES`] snapshots alive after they were replaced, until it
//! reads other secrets or exits (their secrets are zeroized when the last reference goes).
//! Written by hand because no crate offers a generation-checked thread-local memo over
//! `arc-swap`; `arc_swap::Cache` needs `&mut` and one cache per reader.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Snapshot;

/// How many snapshots each thread remembers (a thread rarely reads more secrets than this in a
/// loop; more entries make every miss scan longer).
const ENTRIES: usize = 4;

/// Source of generations. 0 means "nothing published".
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A fresh, never reused generation for a publication.
pub(super) fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct Memo {
    entries: [Option<(u64, Arc<Snapshot>)>; ENTRIES],
    /// Where the next insertion goes (round robin).
    next: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// Calls `f` with this thread's remembered snapshot of `generation`, or returns `None` (not
/// remembered, or the thread-local is being torn down).
#[inline]
pub(super) fn with<R>(generation: u64, f: impl FnOnce(&Arc<Snapshot>) -> R) -> Option<R> {
    MEMO.try_with(|memo| {
        // `f` may read the cache again (a lending closure that calls `cached()`): shared
        // borrows nest, and `remember` skips when it cannot borrow mutably.
        let memo = memo.try_borrow().ok()?;
        let (_, snapshot) = memo
            .entries
            .iter()
            .flatten()
            .find(|(g, _)| *g == generation)?;
        Some(f(snapshot))
    })
    .ok()
    .flatten()
}

/// Remembers `snapshot` as what `generation` stands for on this thread.
pub(super) fn remember(generation: u64, snapshot: &Arc<Snapshot>) {
    let _ = MEMO.try_with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            let at = memo.next;
            memo.entries[at] = Some((generation, Arc::clone(snapshot)));
            memo.next = (at + 1) % ENTRIES;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_unique_and_never_zero() {
        let a = next_generation();
        let b = next_generation();
        assert!(a != 0 && b != 0 && a != b);
    }
}
