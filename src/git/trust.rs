//! libgit2's HTTPS trust store, read when an https remote is first used rather than at start.
//!
//! libgit2 sets up OpenSSL the first time any repository is opened and reads the whole system
//! CA bundle then: some 650 KB of heap kept for the life of a daemon whose remotes may all be
//! SSH or local. [`defer_system_roots`] has libgit2 start with an empty bundle (the hashed
//! certificate directory, which OpenSSL reads lazily, stays in use), and [`trust_system_roots`]
//! loads the bundle once, before the first https connection.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

const CERT_FILE: &str = "SSL_CERT_FILE";

/// The CA bundle libgit2 would have read at start: `SSL_CERT_FILE`, else the system's.
static BUNDLE: OnceLock<Option<PathBuf>> = OnceLock::new();
static LOADED: Once = Once::new();

/// Initialises libgit2 with no CA bundle read. Call it from `main` before any thread starts.
pub fn defer_system_roots() {
    let original = std::env::var_os(CERT_FILE);
    let bundle = openssl_probe::probe().cert_file;
    // SAFETY: called from `main` before any other thread exists, so nothing reads the
    // environment meanwhile; and `get_mwindow_size` only reads a libgit2 global (any git2 call
    // initialises libgit2, this one changes nothing).
    unsafe {
        std::env::set_var(CERT_FILE, "/dev/null");
        let _ = git2::opts::get_mwindow_size();
        // Children (exec actions, git) see what libgit2's start-up would have left them.
        match bundle.clone().map(OsString::from).or(original) {
            Some(file) => std::env::set_var(CERT_FILE, file),
            None => std::env::remove_var(CERT_FILE),
        }
    }
    let _ = BUNDLE.set(bundle);
}

/// Loads the CA bundle [`defer_system_roots`] left out; call it before any https connection.
/// Without that deferral (libgit2 read the bundle at start) it does nothing.
pub(super) fn trust_system_roots() {
    LOADED.call_once(|| {
        let Some(Some(bundle)) = BUNDLE.get() else {
            return;
        };
        // SAFETY: the setting changes libgit2's OpenSSL context, which only https connections
        // use, and every one of them waits on this `Once` before it connects.
        if let Err(err) = unsafe { git2::opts::set_ssl_cert_file(bundle) } {
            tracing::warn!(
                bundle = %bundle.display(),
                "cannot read the CA bundle for https remotes: {}",
                err.message()
            );
        }
    });
}
