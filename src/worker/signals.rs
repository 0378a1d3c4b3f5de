//! Stop signals: SIGINT, SIGTERM and SIGUSR2 end the process at once until there is a run to
//! wind down ([`defer_signals`]); from then on the first asks the worker to stop (the run
//! checkpoints and is requeued) and a second exits at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// Set once there is work a stop must wind down (a run to checkpoint and requeue); before
/// that, a signal ends the process at once.
static DEFER: AtomicBool = AtomicBool::new(false);

/// Writes `msg` to stderr from a signal handler (`write(2)` is async-signal-safe).
fn signal_message(msg: &[u8]) {
    // SAFETY: writes a static buffer to fd 2; the result is deliberately ignored.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    if !DEFER.load(Ordering::SeqCst) {
        signal_message(
            b"\ninterrupted before any run started; nothing is lost, rerun to continue\n",
        );
        unsafe { libc::_exit(130) };
    }
    // A second signal stops at once; the run left `running` is reaped when its lease expires
    // (or at once by a worker on this host, which sees the process is gone).
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        signal_message(
            b"\ninterrupted again: exiting now; the next `harness run` requeues the run left running\n",
        );
        unsafe { libc::_exit(130) };
    }
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT, SIGTERM and SIGUSR2 (Slurm's warning before a time limit) end the process at once
/// with exit code 130 and a message; `main` installs this first thing, so that no signal finds
/// the default action (which would exit 143 for SIGTERM, silently).
pub fn install_signal_handlers() {
    // SAFETY: the handler only touches atomics, write(2) and _exit, all async-signal-safe.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR2] {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// From now on a signal asks the worker to stop at the next step or evaluation batch (the run
/// is checkpointed and requeued), and a second one exits at once.
pub fn defer_signals() {
    DEFER.store(true, Ordering::SeqCst);
}

/// Whether a stop signal arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
