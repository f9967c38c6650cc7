//! The messages of panics on any thread of this process, for tests that check what a mistake
//! tells the user when it stops a server from starting.

use std::panic::{self, PanicHookInfo};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Every panic message of this process since [`capture_panics`] was first called.
#[derive(Debug, Clone)]
pub struct CapturedPanics {
    messages: Arc<Mutex<Vec<String>>>,
}

impl CapturedPanics {
    /// The messages kept so far that contain `needle`.
    pub fn containing(&self, needle: &str) -> Vec<String> {
        let messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        messages
            .iter()
            .filter(|message| message.contains(needle))
            .cloned()
            .collect()
    }

    fn keep(&self, info: &PanicHookInfo<'_>) {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().cloned().or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        });
        if let Some(message) = message {
            let mut messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
            messages.push(message);
        }
    }
}

/// Keeps the message of every later panic of this process, which is still printed as before,
/// and returns the capture. The first call installs the panic hook; later calls return the same
/// capture, so tests that share a process tell their panics apart by what the messages say.
pub fn capture_panics() -> CapturedPanics {
    static CAPTURE: OnceLock<CapturedPanics> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = CapturedPanics {
                messages: Arc::default(),
            };
            let kept = capture.clone();
            let print = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                kept.keep(info);
                print(info);
            }));
            capture
        })
        .clone()
}
