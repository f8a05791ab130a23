//! Commands with deadlines (kubectl, Python), and cleanup that runs whatever the test body did.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures::FutureExt;

use crate::kubectl::kubectl_binary;
use crate::paths::workspace_root;

/// A kubectl or Python run that takes longer than this is stuck.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

pub struct CommandOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args` in the workspace root, killed after `COMMAND_TIMEOUT`.
pub async fn run_command(program: &Path, args: &[&str]) -> Result<CommandOutput> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start `{shown}`"))?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("`{shown}` did not finish within {COMMAND_TIMEOUT:?}"))?
        .with_context(|| format!("run `{shown}`"))?;
    Ok(CommandOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs kubectl with `args` (no cluster needed for kustomize); fails with its stderr.
pub async fn kubectl_local(args: &[&str]) -> Result<String> {
    let output = run_command(&kubectl_binary()?, args).await?;
    if !output.success {
        bail!(
            "kubectl {} failed ({:?}): {}",
            args.join(" "),
            output.code,
            output.stderr
        );
    }
    Ok(output.stdout)
}

/// Runs `body`, then `cleanup` whatever `body` did (error or panic); `body`'s failure is reported first.
pub async fn with_cleanup(
    body: impl Future<Output = Result<()>>,
    cleanup: impl Future<Output = Result<()>>,
) -> Result<()> {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    let cleaned = cleanup.await;
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(result) => result.and(cleaned),
    }
}
