//! `cargo run --release -p loadgen -- --url ws://127.0.0.1:3000 --scenario s1`
//! (README.md beside this crate explains every flag and number).

use anyhow::Context;
use clap::Parser;

use loadgen::cli::Args;
use loadgen::proc_stats::raise_open_file_limit;

/// File descriptors the tool needs beyond one per client (runtime, stdio, /proc reads).
const SPARE_FILES: u64 = 64;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = args.to_config();
    config.validate()?;

    let wanted = config.clients as u64 + SPARE_FILES;
    if let Err(why) = raise_open_file_limit(wanted) {
        eprintln!(
            "warning: {why}; some of the {} clients may fail to connect",
            config.clients
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let report = runtime.block_on(loadgen::run(config))?;

    print!("{report}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}
