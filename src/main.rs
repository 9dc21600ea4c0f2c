//! The `credvend` binary: parse the command line, start logging, load the config, run the
//! subcommand, and turn its outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;
use credvend::cli::{Cli, Command};
use credvend::config::Config;
use credvend::env::Env;
use credvend::{commands, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    // The daemon narrates at info; one-shot commands print results and log only warnings
    // (such as a clock-skew correction).
    let default_level = match cli.command {
        Command::Serve => "info",
        _ => "warn",
    };
    telemetry::init(&env, default_level);

    let config = match Config::load(cli.config.as_deref(), &env) {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    let outcome = match cli.command {
        Command::Serve => runtime
            .block_on(credvend::daemon::serve(config, env))
            .map(|()| String::new())
            .map_err(|e| e.to_string()),
        Command::Check { profile } => runtime
            .block_on(commands::check(&config, &env, profile.as_deref()))
            .map_err(|e| format!("check failed: {e}")),
        Command::Profiles => commands::profiles(&config, &env).map_err(|e| e.to_string()),
        Command::Env { profile, docker } => {
            commands::env(&config, profile.as_deref(), docker).map_err(|e| e.to_string())
        }
    };
    match outcome {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("credvend: {error}");
    ExitCode::FAILURE
}
