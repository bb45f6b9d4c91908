//! `branchyard`: the headless CLI over Branchyard's engine.

mod args;
mod print;
mod run;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BRANCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            print::error(&e);
            std::process::ExitCode::from(1)
        }
    }
}
