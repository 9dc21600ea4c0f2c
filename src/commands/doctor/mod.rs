//! `credvend doctor`: checks the set-up and explains each problem with its fix. Every line
//! says `ok`, `warn` or `fail`; the command fails when any check fails.
//!
//! `probe` talks to the listeners (the configured ones and those this shell's variables name),
//! `setup` looks at files, the shell, link-local addresses and the clock, `report` prints.
//! Doctor sends requests only to this machine's listeners and to the STS endpoint credvend
//! itself uses.

mod probe;
mod report;
mod setup;

pub use report::{Finding, Level, Report};

use crate::config::Config;
use crate::env::Env;

/// Runs every check for `config`, as seen from a shell with `env`.
pub async fn doctor(config: &Config, env: &Env) -> Report {
    let mut report = Report::default();
    probe::listeners(&mut report, config).await;
    let exposed = setup::files(&mut report, config, env);
    setup::shell(&mut report, env, exposed.as_ref());
    probe::shell_endpoints(&mut report, env, setup::has_link_local(config)).await;
    setup::link_local(&mut report, config);
    setup::clock(&mut report, config, env).await;
    report
}
