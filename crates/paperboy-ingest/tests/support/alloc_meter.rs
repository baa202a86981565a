//! A global allocator for hostile-input tests that measures, per thread, the most heap a piece of
//! code held at once, so a test can assert that a parser's memory does not grow with a number or
//! a length written in its input. Include it once per test binary (it installs the allocator):
//! `#[path = "../../paperboy-ingest/tests/support/alloc_meter.rs"] mod alloc_meter;`.
//!
//! Only allocations made on the measuring thread count; memory freed there that was allocated
//! before the measurement began lowers the count, which errs on the side of a smaller figure.

#![allow(dead_code)]
// A global allocator cannot be written without `unsafe`; this one only counts and delegates to
// the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Metered;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(change: isize) {
    let _ = TRACKING.try_with(|tracking| {
        if tracking.get() {
            let _ = LIVE.try_with(|live| {
                let now = live.get() + change;
                live.set(now);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
            });
        }
    });
}

// SAFETY: every call is passed to `System` unchanged; the counting touches only const-initialised
// thread-locals of `Cell`s, which never allocate.
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are passed on.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            record(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are passed on.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            record(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees are passed on.
        unsafe { System.dealloc(pointer, layout) };
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's guarantees are passed on.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

#[global_allocator]
static METERED: Metered = Metered;

/// Runs `work` and returns its result with the most heap (in bytes) it held at once on this
/// thread, above what was held when it started.
pub fn peak_heap<T>(work: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    TRACKING.with(|tracking| tracking.set(true));
    let result = work();
    TRACKING.with(|tracking| tracking.set(false));
    let peak = PEAK.with(Cell::get).max(0) as usize;
    (result, peak)
}

pub const MIB: usize = 1024 * 1024;
