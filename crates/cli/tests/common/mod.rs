//! Helpers shared by the command-line tests: run the binary, parse its JSON.
#![allow(dead_code, clippy::unwrap_used)] // Each test file uses a part; tests fail loudly.

use std::process::{Command, Output};

use serde_json::Value;

/// Runs `vkm` with `args`.
pub fn vkm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vkm"))
        .args(args)
        .output()
        .unwrap()
}

/// The one JSON object a successful command printed.
pub fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    printed(output)
}

/// The one JSON object a command printed, whatever its exit status.
pub fn printed(output: &Output) -> Value {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object on one line: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}
