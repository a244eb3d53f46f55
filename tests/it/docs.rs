//! The generated shell completions and man page, checked by the tools that read them.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::laminar_stdout;

/// Runs `program` with `input` on stdin; its stderr, and whether it succeeded.
fn feed(program: &str, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .env("MANWIDTH", "80")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bash_completion_parses_and_knows_every_command() {
    let script = laminar_stdout(&["completions", "bash"]);
    let (ok, errors) = feed("bash", &["-n"], &script);
    assert!(ok && errors.is_empty(), "{errors}");
    for command in [
        "run", "once", "check", "deploy", "hold", "release", "status", "man",
    ] {
        assert!(script.contains(command), "{command} missing");
    }
    assert!(laminar_stdout(&["completions", "fish"]).contains("complete -c laminar"));
    assert!(laminar_stdout(&["completions", "zsh"]).starts_with("#compdef laminar"));
}

#[test]
fn the_man_page_renders_without_warnings() {
    let page = laminar_stdout(&["man"]);
    assert!(page.contains(".TH laminar 1"), "{page}");
    let (ok, errors) = feed("groff", &["-man", "-z", "-ww"], &page);
    assert!(ok && errors.is_empty(), "groff: {errors}");
    let (ok, errors) = feed("man", &["--warnings", "-l", "-"], &page);
    assert!(ok && errors.is_empty(), "man: {errors}");
}
