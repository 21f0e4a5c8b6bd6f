//! Calling a library that may panic on hostile input, and getting an error instead of a crash
//! report.
//!
//! `catch_unwind` stops a panic, but Rust's panic hook has already printed "thread panicked at
//! …" and, with `RUST_BACKTRACE` set, a backtrace of the library's internals, before the caller
//! can say what was wrong with the file. [`catch`] installs, once per process, a hook that stays
//! silent on threads inside [`catch`] and hands every other panic to the hook that was there
//! before, so a real bug elsewhere still reports as usual.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it becomes `Err` with the panic's message, printed nowhere.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(catch(|| 7), Ok(7));
        let got: Result<(), String> = catch(|| panic!("bad byte {}", 3));
        assert_eq!(got, Err("bad byte 3".to_string()));
        let got: Result<(), String> = catch(|| panic!("plain"));
        assert_eq!(got, Err("plain".to_string()));
    }
}
