//! Child processes: spawned so that they cannot outlive whoever owns them, stopped with a deadline, and found
//! again by an environment marker when they were left detached.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Every process the harness starts carries `ZEROETL_OWNER=<owner>` in its environment, so a later
/// `down` or leak check can find it without trusting a pid alone.
pub const OWNER_ENV: &str = "ZEROETL_OWNER";

/// How long a process gets between SIGTERM and SIGKILL when stopped.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Whether a child dies with its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Killed (SIGKILL) by the kernel as soon as the owning process exits, however it exits.
    Attached,
    /// In its own session: survives the owner; stopped later through [`stop_detached`].
    Detached,
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. Test runtimes
/// start and stop worker threads all the time, so attached children are forked from one thread that lives
/// as long as the process.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnJob>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("zeroetl-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the process spawner thread");
        Mutex::new(tx)
    })
}

/// Starts `command` with stdin closed and stdout+stderr appended to `log`.
pub fn spawn_logged(
    mut command: Command,
    log: &Path,
    owner: &str,
    lifetime: Lifetime,
) -> Result<Child> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open log file {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env(OWNER_ENV, owner);
    spawn(command, lifetime).with_context(|| format!("start {program}"))
}

/// Starts `command` with the given lifetime; the child leads its own process group either way, so a
/// terminal's Ctrl-C reaches only the owner, which then stops its children in order.
pub fn spawn(mut command: Command, lifetime: Lifetime) -> io::Result<Child> {
    match lifetime {
        Lifetime::Attached => {
            let owner_pid = std::process::id() as libc::pid_t;
            command.process_group(0);
            // SAFETY: only async-signal-safe libc calls between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The owner may have died between fork and prctl: then nobody would send the signal.
                    if libc::getppid() != owner_pid {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
            let (reply_tx, reply_rx) = mpsc::channel();
            spawner()
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .send((command, reply_tx))
                .map_err(|_| io::Error::other("process spawner thread is gone"))?;
            reply_rx
                .recv()
                .map_err(|_| io::Error::other("process spawner thread is gone"))?
        }
        Lifetime::Detached => {
            // SAFETY: setsid is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    if libc::setsid() < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            command.spawn()
        }
    }
}

/// Sends `signal` to the process group led by `pid` (every child here leads its own group) and to `pid`
/// itself, in case it is not a group leader.
pub fn signal_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Waits for `child` to exit until `deadline`; `None` when it is still running.
pub fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then SIGKILL after `grace`; always reaps the child.
pub fn stop_child(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        signal_group(child.id(), libc::SIGKILL);
        return Ok(status);
    }
    signal_group(child.id(), libc::SIGTERM);
    if let Some(status) = wait_until(child, Instant::now() + grace)? {
        // Anything the child started in its group goes with it.
        signal_group(child.id(), libc::SIGKILL);
        return Ok(status);
    }
    signal_group(child.id(), libc::SIGKILL);
    child.wait()
}

/// A running process found through /proc.
#[derive(Debug, Clone)]
pub struct FoundProcess {
    pub pid: u32,
    pub command_line: String,
}

/// Processes (other than this one) whose environment holds `key=value`.
pub fn processes_with_env(key: &str, value: &str) -> Vec<FoundProcess> {
    let needle = format!("{key}={value}");
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || is_zombie(pid) {
            continue;
        }
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            found.push(FoundProcess {
                pid,
                command_line: command_line(pid),
            });
        }
    }
    found
}

/// Whether `pid` exists and has not exited (a zombie has exited and only awaits reaping).
pub fn is_running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the parenthesised command name, which may itself contain spaces.
            let after = stat.rfind(')')?;
            stat[after + 1..]
                .split_whitespace()
                .next()
                .map(|s| s == "Z")
        })
        .unwrap_or(false)
}

fn command_line(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Whether `pid` is alive and carries the owner marker `owner`.
fn is_ours(pid: u32, owner: &str) -> bool {
    let needle = format!("{OWNER_ENV}={owner}");
    !is_zombie(pid)
        && fs::read(format!("/proc/{pid}/environ"))
            .map(|environ| {
                environ
                    .split(|b| *b == 0)
                    .any(|var| var == needle.as_bytes())
            })
            .unwrap_or(false)
}

/// The record of processes left running by a detached start (`control-plane up`, `demo --detach`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DetachedProcesses {
    /// Stopped in reverse order: the last started goes first.
    pub processes: Vec<DetachedProcess>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetachedProcess {
    pub name: String,
    pub pid: u32,
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("processes.json")
}

/// Adds `pid` to the record in `dir`.
pub fn record_detached(dir: &Path, name: &str, pid: u32) -> Result<()> {
    let path = record_path(dir);
    let mut record: DetachedProcesses = match fs::read(&path) {
        Ok(raw) => {
            serde_json::from_slice(&raw).with_context(|| format!("parse {}", path.display()))?
        }
        Err(_) => DetachedProcesses::default(),
    };
    record.processes.push(DetachedProcess {
        name: name.to_owned(),
        pid,
    });
    fs::write(&path, serde_json::to_vec_pretty(&record)?)
        .with_context(|| format!("write {}", path.display()))
}

/// Stops every process recorded in `dir` (newest first) and checks that none carrying the owner marker
/// `owner` remains. Returns the names of the processes it stopped.
pub fn stop_detached(dir: &Path, owner: &str) -> Result<Vec<String>> {
    let path = record_path(dir);
    let record: DetachedProcesses = match fs::read(&path) {
        Ok(raw) => {
            serde_json::from_slice(&raw).with_context(|| format!("parse {}", path.display()))?
        }
        Err(_) => DetachedProcesses::default(),
    };
    let mut stopped = Vec::new();
    for process in record.processes.iter().rev() {
        // A recycled pid would not carry our marker: never signal a stranger.
        if !is_ours(process.pid, owner) {
            continue;
        }
        signal_group(process.pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while is_ours(process.pid, owner) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        if is_ours(process.pid, owner) {
            signal_group(process.pid, libc::SIGKILL);
        }
        stopped.push(process.name.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_with_env(OWNER_ENV, owner);
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let list: Vec<String> = left
                .iter()
                .map(|p| format!("{} {}", p.pid, p.command_line))
                .collect();
            bail!(
                "processes still running after stop:\n  {}",
                list.join("\n  ")
            );
        }
        for process in &left {
            signal_group(process.pid, libc::SIGKILL);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = fs::remove_file(&path);
    Ok(stopped)
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A TCP port on 127.0.0.1 that was free a moment ago. The listeners stay open until all ports of a batch
/// are chosen so that one batch never holds the same port twice.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()
        .context("bind a free port on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
