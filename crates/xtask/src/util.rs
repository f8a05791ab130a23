//! Small shared pieces: running commands, cargo, a tokio runtime, phase timing.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use zeroetl_e2e::paths::workspace_root;

/// Runs an async entry point on a multi-threaded runtime.
pub fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?
        .block_on(future)
}

/// `cargo` (the one running us, when known) in the workspace root.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command` with inherited stdio; fails on a non-zero exit.
pub fn run_checked(command: &mut Command) -> Result<()> {
    let shown = describe(command);
    eprintln!("$ {shown}");
    let status = command.status().with_context(|| format!("run `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `command` and returns its stdout; fails with its stderr on a non-zero exit.
pub fn output(command: &mut Command) -> Result<String> {
    let shown = describe(command);
    let output = command.output().with_context(|| format!("run `{shown}`"))?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).context("command output is not UTF-8")
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| {
            let part = part.to_string_lossy();
            // An inline script (bash -c) would flood the log.
            if part.contains('\n') {
                "<script>".to_owned()
            } else {
                part.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Named phases with their wall time, printed as a summary at the end whether or not they succeeded.
#[derive(Default)]
pub struct Phases {
    done: Vec<(String, Duration, bool)>,
}

impl Phases {
    pub fn run<T>(&mut self, name: &str, phase: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("\n=== {name}");
        let started = Instant::now();
        let result = phase();
        self.done
            .push((name.to_owned(), started.elapsed(), result.is_ok()));
        result.with_context(|| format!("phase `{name}` failed"))
    }

    pub fn summary(&self) -> String {
        let total: Duration = self.done.iter().map(|(_, took, _)| *took).sum();
        let mut text = String::from("\ntiming summary:\n");
        for (name, took, ok) in &self.done {
            let mark = if *ok { "ok    " } else { "FAILED" };
            text.push_str(&format!("  {mark} {:>8.1}s  {name}\n", took.as_secs_f64()));
        }
        text.push_str(&format!("         {:>8.1}s  total\n", total.as_secs_f64()));
        text
    }
}
