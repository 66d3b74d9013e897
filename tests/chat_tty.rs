//! `run --chat` in a pseudo-terminal, as a person uses it: two turns typed at the `User: `
//! prompt, then end of input (Ctrl-D). Each reply must be what the engine gives when the turns
//! are fed one after another into one state: so the second depends on the first.

#![cfg(target_os = "linux")]

mod common;

use reference::sample::argmax;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_TOKENS: usize = 12;

/// A pseudo-terminal: (master, slave).
fn openpty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the ints; name, termios and size may be null.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// The chat's replies computed directly: each message fed as `User: …\n\nAssistant:` into the one
/// state, greedy tokens (never the end-of-text one) until the reply holds a blank line or has
/// `MAX_TOKENS` tokens, a cut reply closed with `\n\n`.
fn expected_replies(model: &Path, messages: &[&str]) -> Vec<Vec<u8>> {
    let model = common::open_test_model(model);
    let engine = reference::Engine::load(&model, &Default::default()).unwrap();
    let tok = reference::tokenizer::TextTokenizer::new(&model.tokenizer().unwrap(), model.hparams.vocab_size).unwrap();
    let mut state = engine.new_state();
    let last = |tokens: &[u32], state: &mut reference::State| {
        let h = engine.hidden(tokens, state);
        engine.head(h.slice(ndarray::s![h.nrows() - 1.., ..])).row(0).to_vec()
    };
    let mut replies = Vec::new();
    for m in messages {
        let mut logits = last(&tok.encode(&format!("User: {m}\n\nAssistant:")).unwrap(), &mut state);
        let mut reply = Vec::new();
        for _ in 0..MAX_TOKENS {
            logits[0] = f32::NEG_INFINITY;
            let t = argmax(&logits) as u32;
            reply.extend_from_slice(tok.token_bytes(t));
            logits = last(&[t], &mut state);
            if reply.windows(2).any(|w| w == b"\n\n") {
                break;
            }
        }
        if !reply.ends_with(b"\n\n") {
            let close = if reply.ends_with(b"\n") { "\n" } else { "\n\n" };
            last(&tok.encode(close).unwrap(), &mut state);
            reply.extend_from_slice(close.as_bytes());
        }
        replies.push(reply);
    }
    replies
}

#[test]
fn chat_answers_two_turns_in_a_terminal_with_the_state_carried() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/v7-bf16.pth");
    let (mut master, slave) = openpty();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
        .args(["run"])
        .arg(&model)
        .args(["--chat", "--tokenizer", "world", "--temperature", "0", "--max-tokens", &MAX_TOKENS.to_string()])
        .args(["--presence-penalty", "0", "--frequency-penalty", "0"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let reader = {
        let (screen, mut master) = (screen.clone(), master.try_clone().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has closed the terminal.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let prompts = |screen: &Mutex<Vec<u8>>| screen.lock().unwrap().windows(6).filter(|w| w == b"User: ").count();
    let wait_for = |n: usize| {
        let start = Instant::now();
        while prompts(&screen) < n {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no prompt {n}: {:?}",
                String::from_utf8_lossy(&screen.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let messages = ["Hello there", "And what comes next?"];
    for (i, m) in messages.iter().enumerate() {
        // The prompt of turn i, then typing (the echo of "User: " inside a message is not typed).
        wait_for(i + 1);
        master.write_all(format!("{m}\n").as_bytes()).unwrap();
    }
    wait_for(3);
    master.write_all(&[4]).unwrap(); // Ctrl-D: end of input
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{err}");
    drop(master);
    let _ = reader.join();
    // The terminal turns each "\n" of output (and echo) into "\r\n".
    let screen: Vec<u8> = screen.lock().unwrap().iter().copied().filter(|&b| b != b'\r').collect();

    let want = expected_replies(&model, &messages);
    let mut transcript = Vec::new();
    for (m, r) in messages.iter().zip(&want) {
        transcript.extend_from_slice(format!("User: {m}\n\nAssistant:").as_bytes());
        transcript.extend_from_slice(r);
    }
    transcript.extend_from_slice(b"User: \n");
    assert_eq!(
        String::from_utf8_lossy(&screen),
        String::from_utf8_lossy(&transcript),
        "the screen is the typed messages and the replies of one state"
    );
    // Without the first turn's state, the second message gets another reply.
    let alone = expected_replies(&model, &messages[1..]);
    assert_ne!(alone[0], want[1], "the second reply does not depend on the first turn");
}
