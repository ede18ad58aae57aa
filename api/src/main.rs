//! `kontakt`: the command line of the Contact Center request system.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KONTAKT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_cron_scheduler=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = kontakt_api::cli::Cli::parse();
    match kontakt_api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kontakt: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
