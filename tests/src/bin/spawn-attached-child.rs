//! Helper of the harness self-test `attached_children_die_with_a_killed_owner`: starts `sleep 300` as an
//! attached child, prints the child's pid, then waits to be killed. The kernel must take the child along.

use std::io::{Read, Write};
use std::process::Command;

use zeroetl_e2e::process::{spawn, Lifetime};

fn main() -> anyhow::Result<()> {
    let mut sleeper = Command::new("sleep");
    sleeper.arg("300");
    let child = spawn(sleeper, Lifetime::Attached)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", child.id())?;
    stdout.flush()?;
    // Blocks until the test kills us (or closes our stdin).
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    Ok(())
}
