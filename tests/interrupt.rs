//! Ctrl-C while writing: the process exits 130, removes its unfinished files, and no file ever
//! appears under its final name half-written.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rwkv-convert"))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn sigint_mid_conversion_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.pth");
    // Big enough (a 65536-row vocabulary) that converting and quantizing take a while.
    let o = bin().args(["synth", src.to_str().unwrap(), "--layers", "2", "--embd", "512"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("m.gguf");
    let child = bin()
        .args(["convert", src.to_str().unwrap(), "--to", "gguf", out.to_str().unwrap(), "--outtype", "Q4_K_M"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt as soon as something is being written.
    let t0 = Instant::now();
    while names(&out_dir).is_empty() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!names(&out_dir).is_empty(), "nothing was written within 120 s");
    let k = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(k.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(names(&out_dir), Vec::<String>::new(), "files left behind");
}
