//! Argo CD's health scripts for our kinds (`config/argocd/resource_customizations/`), run the way Argo CD runs
//! an argocd-cm health script: Lua 5.1 (Debian's `lua5.1`, Argo CD embeds gopher-lua, a Lua 5.1), the
//! object as the global table `obj`, only the base, table, package and a two-function `os` library open
//! (no `string`, `math`, `io`), and the returned table's `status` checked against Argo CD's health codes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::paths::workspace_root;

/// Argo CD's health codes; anything else is reported as Unknown with [`INVALID_STATUS_MESSAGE`].
pub const HEALTH_STATUSES: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];
/// Argo CD's message for a script that returns a status outside [`HEALTH_STATUSES`].
pub const INVALID_STATUS_MESSAGE: &str = "Lua returned an invalid health status";
/// Argo CD gives a script one second; the process limit only catches a hung interpreter.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);
const LUA: &str = "lua5.1";

/// Our kinds, each with a folder `zeroetl.dev/<kind>` under [`customizations_dir`].
pub const KINDS: [&str; 3] = [
    "ZeroEtlIntegration",
    "RedshiftConnection",
    "RedshiftConsumer",
];

/// `config/argocd/resource_customizations`, laid out like Argo CD's own folder of the same name.
pub fn customizations_dir() -> PathBuf {
    workspace_root().join("config/argocd/resource_customizations")
}

/// The folder holding `health.lua`, `health_test.yaml` and `testdata/` for one of [`KINDS`].
pub fn kind_dir(kind: &str) -> PathBuf {
    customizations_dir().join("zeroetl.dev").join(kind)
}

/// What a health script returned, as Argo CD records it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HealthStatus {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// One case of a `health_test.yaml`, in Argo CD's format.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCase {
    pub health_status: HealthStatus,
    pub input_path: String,
}

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthCase>,
}

/// The cases of `<kind dir>/health_test.yaml`.
pub fn health_cases(kind: &str) -> Result<Vec<HealthCase>> {
    let path = kind_dir(kind).join("health_test.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let parsed: HealthTests =
        serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    Ok(parsed.tests)
}

/// Reads a YAML manifest as the JSON-shaped value Argo CD hands to Lua.
pub fn read_manifest(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// Fails, saying how to get it, when `lua5.1` cannot be run.
pub fn require_lua() -> Result<()> {
    match Command::new(LUA).arg("-v").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!("`{LUA} -v` failed ({}): reinstall it with `apt-get install lua5.1`", out.status),
        Err(e) => bail!(
            "{LUA} is needed to run Argo CD's health scripts ({e}): `apt-get install lua5.1`, or run \
             `cargo xtask test`, which installs it"
        ),
    }
}

/// Runs the health script of `kind` against `object`.
pub fn evaluate(kind: &str, object: &Value) -> Result<HealthStatus> {
    evaluate_script(&kind_dir(kind).join("health.lua"), object)
}

/// Runs the health script at `script` against `object`, as Argo CD would.
pub fn evaluate_script(script: &Path, object: &Value) -> Result<HealthStatus> {
    let driver = driver(script, object)?;
    let mut child = Command::new(LUA)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow!("start {LUA} ({e}): `apt-get install lua5.1`, or run `cargo xtask test`, which installs it")
        })?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(driver.as_bytes())?;
    // The outputs are small (a status and a message), so reading them after exit cannot block on a full pipe.
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let exit = loop {
        if let Some(exit) = child.try_wait()? {
            break exit;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not finish within {SCRIPT_TIMEOUT:?}",
                script.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = Vec::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut stdout)?;
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)?;
    if !exit.success() {
        bail!("{} failed ({exit}): {}", script.display(), stderr.trim());
    }
    let stdout = String::from_utf8(stdout).context("the script's output is not UTF-8")?;
    let (status, message) = stdout
        .split_once('\0')
        .ok_or_else(|| anyhow!("unexpected driver output {stdout:?}"))?;
    if !HEALTH_STATUSES.contains(&status) {
        return Ok(HealthStatus {
            status: "Unknown".into(),
            message: INVALID_STATUS_MESSAGE.into(),
        });
    }
    Ok(HealthStatus {
        status: status.into(),
        message: message.into(),
    })
}

/// The Lua program that sets up Argo CD's environment, runs the script and prints `status\0message`.
fn driver(script: &Path, object: &Value) -> Result<String> {
    let script_path = script
        .to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", script.display()))?;
    Ok(format!(
        r#"local object = {object}
local chunk, load_error = loadfile({path})
if chunk == nil then
  io.stderr:write("cannot load the script: ", tostring(load_error))
  os.exit(2)
end
-- The libraries Argo CD opens for argocd-cm scripts (util/lua: package, base, table, a safe os).
local sandbox = {{}}
for _, name in ipairs({{"assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
    "rawset", "select", "getmetatable", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
    "_VERSION", "require", "module", "load", "loadstring", "getfenv", "setfenv"}}) do
  sandbox[name] = _G[name]
end
sandbox._G = sandbox
sandbox.table = table
sandbox.os = {{ time = os.time, date = os.date }}
sandbox.obj = object
setfenv(chunk, sandbox)
-- Without the string library, gopher-lua strings have no methods either.
local string_methods = getmetatable("")
string_methods.__index = nil
local ok, hs = pcall(chunk)
if not ok then
  io.stderr:write("the script raised an error: ", tostring(hs))
  os.exit(3)
end
if type(hs) ~= "table" then
  io.stderr:write("the script returned a ", type(hs), ", not a table")
  os.exit(4)
end
if type(hs.status) ~= "string" or (hs.message ~= nil and type(hs.message) ~= "string") then
  io.stderr:write("status and message must be strings")
  os.exit(5)
end
io.write(hs.status, "\0", hs.message or "")
"#,
        object = lua_literal(object),
        path = lua_string(script_path),
    ))
}

/// `value` as a Lua table constructor, the shape Argo CD builds from the object's JSON: maps keyed by
/// string, arrays indexed from 1, numbers, booleans, and nil for null.
pub fn lua_literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:?}"),
            (None, None) => "nil".into(),
        },
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_literal).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// A Lua string literal: printable ASCII kept, every other byte as a three-digit decimal escape (three
/// digits, so a following digit is never read as part of the escape).
pub fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for byte in s.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:03}")),
        }
    }
    out.push('"');
    out
}
