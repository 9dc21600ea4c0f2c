//! The `credvend` binary: parse the command line, start logging, load the config, run the
//! subcommand, and turn its outcome into an exit code. An error is printed once, with its
//! causes, as `credvend: what failed: why`.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use credvend::causes::Causes;
use credvend::cli::{AuditCommand, Cli, Command, NetworkArg};
use credvend::commands::EnvForm;
use credvend::config::{Config, DefaultPaths};
use credvend::env::Env;
use credvend::{commands, daemon, telemetry};

/// Threads for blocking work (see where the runtime is built).
const MAX_BLOCKING_THREADS: usize = 8;

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
    match run(cli, env) {
        Ok(Done { text, ok }) => {
            print!("{text}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("credvend: {}", Causes(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// A command that ran: what it prints, and whether it found everything in order.
struct Done {
    text: String,
    ok: bool,
}

impl From<String> for Done {
    fn from(text: String) -> Self {
        Self { text, ok: true }
    }
}

/// `credvend audit verify | show`.
fn audit(config: &Config, action: AuditCommand) -> Result<Done, Box<dyn Error>> {
    use credvend::commands::audit;
    match action {
        AuditCommand::Verify { files, checkpoint } => {
            let checked = audit::verify(config, &files, checkpoint.as_deref())?;
            Ok(Done {
                text: checked.text,
                ok: checked.ok,
            })
        }
        AuditCommand::Show {
            since,
            profile,
            client,
            files,
        } => {
            let options = audit::ShowOptions {
                files,
                since,
                profile,
                client,
            };
            Ok(audit::show(config, &credvend::clock::SystemClock, &options)?.into())
        }
    }
}

/// Runs the subcommand.
fn run(cli: Cli, env: Env) -> Result<Done, Box<dyn Error>> {
    let config = Config::load(cli.config.as_deref(), &env)?;
    // Before any thread starts: taking the sockets clears LISTEN_FDS from the environment.
    let passed = match cli.command {
        Command::Serve => daemon::inherited_listeners()?,
        _ => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work is short (a caller lookup per new connection, file reads): a few
        // threads keep up, where tokio's default of 512 lets a burst of new connections grow
        // a thread, and its stack, for each.
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()?;
    let text = match cli.command {
        Command::Serve => {
            runtime.block_on(daemon::serve(config, env, passed))?;
            String::new()
        }
        Command::Doctor => {
            let report = runtime.block_on(commands::doctor(&config, &env));
            return Ok(Done {
                ok: report.failures() == 0,
                text: report.to_string(),
            });
        }
        Command::Check { profile } => {
            runtime.block_on(commands::check(&config, &env, profile.as_deref()))?
        }
        Command::Profiles => commands::profiles(&config, &env)?,
        Command::Network { action } => {
            let action = match action {
                NetworkArg::Up => commands::NetworkAction::Up,
                NetworkArg::Down => commands::NetworkAction::Down,
                NetworkArg::Status => commands::NetworkAction::Status,
            };
            commands::network(action, &config)?
        }
        Command::ImportKeys {
            move_keys,
            profile,
            from,
        } => {
            let options = commands::ImportOptions {
                from,
                profiles: profile,
                move_keys,
            };
            commands::import_keys(&config, &env, &DefaultPaths::from_platform(), &options)?
        }
        Command::Status { json } => runtime.block_on(commands::status(&config, json))?,
        Command::Refresh { profile } => runtime.block_on(commands::refresh(&config, &profile))?,
        Command::Mfa { profile, code } => {
            let code = match code {
                Some(code) => code,
                None => commands::prompt_mfa_code(&profile)?,
            };
            runtime.block_on(commands::mfa(&config, &profile, code))?
        }
        Command::CredentialProcess { profile } => {
            runtime.block_on(commands::credential_process(&config, &profile))?
        }
        Command::Env {
            profile,
            docker,
            full_uri,
        } => {
            let form = if docker {
                EnvForm::Docker { full_uri }
            } else {
                EnvForm::Shell
            };
            commands::env(&config, &env, profile.as_deref(), form)?
        }
        Command::Audit { action } => return audit(&config, action),
    };
    Ok(text.into())
}
