//! The per-thread memo of recently read snapshots: what makes a cache hit cost one `Arc` clone
//! of a reference count that no other thread touches.
//!
//! Each slot publishes its current snapshot through an `ArcSwapOption`. Loading from it is
//! wait-free but not free: an `arc-swap` guard writes a debt slot and pays it back, two
//! read-modify-writes per read, which was most of a hit (about 25 ns of 29 on the bench). So
//! every publication also stamps the slot with a process-wide unique *generation*, and each
//! thread remembers the last few slots it read with the (generation, snapshot) it saw. A hit is
//! then one `Acquire` load of the slot's generation, a scan of four entries of this thread's
//! memo and whatever the caller does with the key. Nothing shared is written.
//!
//! Reads by name find their entry by (provider, name) instead of hashing into the provider's
//! name map, which needed an `arc-swap` load of the map and a hash on every read.
//!
//! Each entry also holds this thread's own copy of the snapshot's [`AccessKey`], made at the
//! first hit (not at the miss that filled the entry, so a thread that cycles through more
//! secrets than the memo holds copies nothing): a read that hands out an `Arc` increments a
//! reference count that lives in this thread's allocation, not one shared by every thread
//! reading the secret, so cloning reads on many threads do not contend on one cache line (two
//! threads measured 2.6x slower per read on the shared count). Keys from separate reads are
//! therefore equal but not necessarily `Arc::ptr_eq` (a miss, a fetch and `subscribe()` hand
//! out the shared `Arc`, hits this thread's copy): compare ids and versions.
//!
//! Why it is correct: a generation is drawn from one global counter and stored *after* the
//! snapshot it stands for, with `Release`. A reader that sees generation `g` (with `Acquire`)
//! therefore sees that snapshot or a later one when it loads the slot, so the memo maps `g` to
//! a snapshot at least as new as `g`'s. As generations are never reused, across slots or
//! providers, an entry can only ever match the slot that published it. Expiry is not part of
//! the generation: the reader still checks the snapshot's `expired` flag on every hit.
//!
//! The cost: a thread keeps up to [`ENTRIES`] slots, snapshots and key copies alive after they
//! were replaced, until it reads other secrets or exits (secrets are zeroized when the last
//! reference goes; a dropped provider empties its slots and the dropping thread's entries, but
//! cannot reach other threads' memos). Written by hand because no crate
//! offers a generation-checked thread-local memo over `arc-swap`; `arc_swap::Cache` needs
//! `&mut` and one cache per reader.

use std::cell::{OnceCell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Slot, Snapshot};
use crate::secret::AccessKey;

/// How many slots each thread remembers (a thread rarely reads more secrets than this in a
/// loop; more entries make every miss scan longer).
const ENTRIES: usize = 4;

/// Source of generations (and of provider ids). 0 means "nothing published".
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A fresh, never reused number: a publication's generation, or a provider's id.
pub(super) fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// What a read sees: the snapshot, and (through [`Seen::access_key`]) the AccessKey to hand
/// out, this thread's own copy when the slot is remembered.
pub(crate) struct Seen<'a> {
    pub snapshot: &'a Arc<Snapshot>,
    /// Where this thread's copy of the key lives (made on first use); `None` off the memo.
    own_access_key: Option<&'a OnceCell<Arc<AccessKey>>>,
}

impl<'a> Seen<'a> {
    /// A read that hands out the snapshot's shared key (a memo miss).
    pub(super) fn shared(snapshot: &'a Arc<Snapshot>) -> Self {
        Seen {
            snapshot,
            own_access_key: None,
        }
    }

    /// The AccessKey to hand out (`None` when the secret is not an AccessKey): on a hit, this
    /// thread's copy, made here the first time so that reads that only want the snapshot, or
    /// find it unservable, copy nothing.
    #[inline]
    pub(crate) fn access_key(&self) -> Option<&'a Arc<AccessKey>> {
        let shared = self.snapshot.access_key.as_ref().ok()?;
        Some(match self.own_access_key {
            Some(own) => own.get_or_init(|| Arc::new(AccessKey::clone(shared))),
            None => shared,
        })
    }
}

/// What this thread remembers of one slot.
struct Remembered {
    slot: Arc<Slot>,
    generation: u64,
    snapshot: Arc<Snapshot>,
    /// This thread's copy of `snapshot.access_key`, made at the first hit.
    own_access_key: OnceCell<Arc<AccessKey>>,
}

impl Remembered {
    /// What a hit sees: the snapshot and this thread's copy of its key.
    #[inline]
    fn seen(&self) -> Seen<'_> {
        Seen {
            snapshot: &self.snapshot,
            own_access_key: Some(&self.own_access_key),
        }
    }
}

struct Memo {
    entries: [Option<Remembered>; ENTRIES],
    /// Where the next new slot goes (round robin).
    next: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            entries: [const { None }; ENTRIES],
            next: 0,
        })
    };
}

/// Calls `f` with what this thread remembers for `generation`, or returns `None` (not
/// remembered, or the thread-local is being torn down).
#[inline]
pub(super) fn with_generation<R>(generation: u64, f: impl FnOnce(Seen<'_>) -> R) -> Option<R> {
    find(|entry| entry.generation == generation, f)
}

/// Calls `f` with what this thread remembers of provider `owner`'s secret `name`, if that is
/// still the slot's current generation.
#[inline]
pub(super) fn with_name<R>(owner: u64, name: &str, f: impl FnOnce(Seen<'_>) -> R) -> Option<R> {
    find(
        |entry| {
            entry.slot.owner == owner
                && *entry.slot.name == *name
                && entry.slot.generation.load(Ordering::Acquire) == entry.generation
        },
        f,
    )
}

#[inline]
fn find<R>(matches: impl Fn(&Remembered) -> bool, f: impl FnOnce(Seen<'_>) -> R) -> Option<R> {
    MEMO.try_with(|memo| {
        // `f` may read the cache again (a lending closure that calls `cached()`): shared
        // borrows nest, and `remember` stores nothing when it cannot borrow mutably.
        let memo = memo.try_borrow().ok()?;
        let entry = memo.entries.iter().flatten().find(|e| matches(e))?;
        Some(f(entry.seen()))
    })
    .ok()
    .flatten()
}

/// Remembers `snapshot` as what `generation` of `slot` stands for on this thread (replacing
/// what the thread remembered of that slot) and calls `f` with it.
pub(super) fn remember<R>(
    slot: &Arc<Slot>,
    generation: u64,
    snapshot: &Arc<Snapshot>,
    f: impl FnOnce(Seen<'_>) -> R,
) -> R {
    let entry = Remembered {
        slot: Arc::clone(slot),
        generation,
        snapshot: Arc::clone(snapshot),
        own_access_key: OnceCell::new(),
    };
    // The miss that fills the entry hands out the shared key; the first hit makes the copy.
    let result = f(Seen::shared(snapshot));
    let _ = MEMO.try_with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            let at = match memo
                .entries
                .iter()
                .position(|e| e.as_ref().is_some_and(|e| Arc::ptr_eq(&e.slot, slot)))
            {
                Some(same_slot) => same_slot,
                None => {
                    let at = memo.next;
                    memo.next = (at + 1) % ENTRIES;
                    at
                }
            };
            // The replaced entry is dropped after the borrow ends (its key may be the last
            // reference, and dropping it runs no cache code, but keep the borrow short).
            let replaced = memo.entries[at].replace(entry);
            drop(memo);
            drop(replaced);
        }
    });
    result
}

/// Forgets what this thread remembers of provider `owner` (its cache is being dropped).
pub(super) fn forget_owner(owner: u64) {
    let _ = MEMO.try_with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            let forgotten: Vec<_> = memo
                .entries
                .iter_mut()
                .filter(|e| e.as_ref().is_some_and(|e| e.slot.owner == owner))
                .filter_map(Option::take)
                .collect();
            drop(memo);
            drop(forgotten);
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
