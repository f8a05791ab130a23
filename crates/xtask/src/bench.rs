//! `cargo xtask bench …`.

use anyhow::Result;

use crate::util::{cargo, run_checked};

/// aws-sim's describe benchmark, in release mode (the example lives in crates/aws-sim/examples).
pub fn aws_sim() -> Result<()> {
    run_checked(cargo().args([
        "run",
        "-p",
        "zeroetl-aws-sim",
        "--release",
        "--example",
        "bench_describe",
    ]))
}
