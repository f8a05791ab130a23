//! Freezing a child process (SIGSTOP), as a stalled node, a long GC pause or a debugger would, with a guard that
//! lets it run again (SIGCONT) however the test ends: a frozen process ignores SIGTERM, so stopping it later
//! would otherwise wait for the kill.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::process::signal_group;

/// How long the kernel may take to report a signalled process as stopped or running.
const STATE_CHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// A process stopped by [`Paused::pause`]; resumed by [`Paused::resume`] or on drop.
pub struct Paused {
    pid: u32,
    resumed: bool,
}

impl Paused {
    /// Sends SIGSTOP to `pid` (and its process group) and waits until the kernel reports it stopped.
    pub async fn pause(pid: u32) -> Result<Paused> {
        signal_group(pid, libc::SIGSTOP);
        let paused = Paused {
            pid,
            resumed: false,
        };
        wait_for_state(pid, "stopped", |state| state == Some('T')).await?;
        Ok(paused)
    }

    /// Sends SIGCONT and waits until the process runs again (or has exited: a zombie or gone).
    pub async fn resume(mut self) -> Result<()> {
        self.resumed = true;
        signal_group(self.pid, libc::SIGCONT);
        wait_for_state(self.pid, "running again", |state| state != Some('T')).await
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if !self.resumed {
            signal_group(self.pid, libc::SIGCONT);
        }
    }
}

/// The one-letter state in /proc/<pid>/stat (R, S, D, T, Z, …); `None` once the process is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesised command name, which may itself contain spaces.
    let after = stat.rfind(')')?;
    stat[after + 1..].trim_start().chars().next()
}

async fn wait_for_state(pid: u32, what: &str, accept: impl Fn(Option<char>) -> bool) -> Result<()> {
    let deadline = Instant::now() + STATE_CHANGE_TIMEOUT;
    loop {
        let state = process_state(pid);
        if accept(state) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("process {pid} not {what} after {STATE_CHANGE_TIMEOUT:?} (state {state:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
