//! The process's signals, in one place: what Ctrl-C, SIGTERM and SIGHUP mean to a run that ends
//! (`watch`, `check`, `demo`) and to `serve`, which runs until told to stop.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::exit;

/// Set by Ctrl-C or SIGTERM (and SIGHUP) during a run: sampling stops at once (a fetch in flight
/// is abandoned) and the report is still written. A second signal exits at once (130).
static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handlers of a run that ends and returns the flag they set. Under `nohup` a
/// hang-up is meant to be ignored: it stays so, and sampling goes on.
pub fn install_for_run() -> &'static AtomicBool {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let hangup_ignored = sighup_ignored();
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(exit::INTERRUPTED.into());
            }
        });
        if hangup_ignored {
            ignore_sighup();
        }
    });
    &STOP
}

/// The flags `serve`'s handlers set.
pub struct ServeSignals {
    /// SIGTERM or SIGINT: stop.
    pub stop: AtomicBool,
    /// SIGHUP: read the targets file again.
    pub reload: AtomicBool,
}

static SERVE: ServeSignals = ServeSignals { stop: AtomicBool::new(false), reload: AtomicBool::new(false) };

#[cfg(unix)]
extern "C" fn on_stop(_: libc::c_int) {
    // A second signal while shutting down ends the process at once.
    if SERVE.stop.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(exit::INTERRUPTED.into()) }
    }
}

#[cfg(unix)]
extern "C" fn on_hangup(_: libc::c_int) {
    SERVE.reload.store(true, Ordering::SeqCst);
}

/// Installs `serve`'s handlers: SIGTERM and SIGINT stop, SIGHUP reloads the targets.
pub fn install_for_serve() -> &'static ServeSignals {
    #[cfg(unix)]
    // SAFETY: the handlers only store to atomics (and call _exit), which is async-signal-safe.
    unsafe {
        let stop = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        let hangup = on_hangup as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGTERM, stop);
        libc::signal(libc::SIGINT, stop);
        libc::signal(libc::SIGHUP, hangup);
    }
    &SERVE
}

#[cfg(unix)]
fn sighup_ignored() -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(unix)]
fn ignore_sighup() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn sighup_ignored() -> bool {
    false
}

#[cfg(not(unix))]
fn ignore_sighup() {}
