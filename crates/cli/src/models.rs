//! `tern models`: the providers configured, whether each is usable, and
//! the model catalog; `--prepare` readies the chosen model.

use crate::Common;
use std::process::ExitCode;
use tern_config::{Config, ConfigError, Inventory, LoadOptions};
use tokio::io::AsyncWriteExt;

/// Loads the configuration with `load` off the runtime; a bad one is
/// reported here and becomes exit code 2.
async fn load<T: Send + 'static>(
    common: Common,
    load: fn(&LoadOptions) -> Result<T, ConfigError>,
) -> anyhow::Result<Result<T, ExitCode>> {
    let opts = crate::load_options(common)?;
    // Config files are small and read once; this runs before any session.
    Ok(tokio::task::spawn_blocking(move || load(&opts)).await?.map_err(|e| {
        eprintln!("tern: {e}");
        ExitCode::from(2)
    }))
}

pub(crate) async fn list(common: Common) -> anyhow::Result<ExitCode> {
    let inv = match load(common, Inventory::load).await? {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    let mut out = String::new();
    match &inv.chosen {
        Ok((p, m)) => out.push_str(&format!("using: {m} via {p}\n\n")),
        Err(e) => out.push_str(&format!("no usable provider: {e}\n\n")),
    }
    out.push_str(&format!(
        "{:<12} {:<10} {:<28} {:<22} {}\n",
        "PROVIDER", "WIRE API", "KEY", "DEFAULT MODEL", "BASE URL"
    ));
    for p in &inv.providers {
        let key = match &p.key {
            None => "not needed".to_string(),
            Some((var, true)) => format!("${var} set"),
            Some((var, false)) => format!("${var} missing"),
        };
        let wire = format!("{:?}", p.wire_api).to_lowercase();
        out.push_str(&format!(
            "{:<12} {:<10} {:<28} {:<22} {}\n",
            p.name,
            wire,
            key,
            p.model.as_deref().unwrap_or("-"),
            p.base_url
        ));
    }
    out.push_str(&format!(
        "\n{:<20} {:>9} {:>9}  {}\n",
        "MODEL", "CONTEXT", "MAX OUT", "USD / 1M TOKENS (in, cached, out)"
    ));
    for (name, m) in &inv.models {
        let price = m.price.map_or("-".to_string(), |[a, b, c]| format!("{a} / {b} / {c}"));
        out.push_str(&format!("{:<20} {:>9} {:>9}  {price}\n", name, m.context_window, m.max_output));
    }
    out.push_str("\nUSABLE NOW (tern -m MODEL --provider PROVIDER; /model in the UI)\n");
    for c in &inv.choices {
        let state = c.missing.as_deref().unwrap_or("ready");
        out.push_str(&format!("{:<28} {:<12} {state}\n", c.model, c.provider));
    }
    if !inv.sources.is_empty() {
        out.push_str(&format!("\nconfig: {}\n", inv.sources.join(", ")));
    }
    let mut stdout = tokio::io::stdout();
    stdout.write_all(out.as_bytes()).await?;
    stdout.flush().await?;
    Ok(ExitCode::SUCCESS)
}

/// Loads the chosen model and has it evaluate and save the prompt prefix
/// every session in this directory starts with.
pub(crate) async fn prepare(common: Common) -> anyhow::Result<ExitCode> {
    let config = match load(common, Config::load).await? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let (model, provider) = (config.model.clone(), config.provider.name.clone());
    let started = std::time::Instant::now();
    let line = match tern_core::prepare(config, &crate::connect::Clients).await {
        Ok(true) => format!(
            "{model} via {provider}: ready in {:.1} s; sessions here start with its system prompt and tools evaluated\n",
            started.elapsed().as_secs_f64()
        ),
        Ok(false) => format!("{model} via {provider}: nothing to prepare (a hosted model keeps no state here)\n"),
        Err(e) => {
            eprintln!("tern: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut stdout = tokio::io::stdout();
    stdout.write_all(line.as_bytes()).await?;
    stdout.flush().await?;
    Ok(ExitCode::SUCCESS)
}
