pub mod inspect;

use std::io::Write;

/// Print to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}
