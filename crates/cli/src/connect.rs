//! The model clients this binary links: every HTTP wire API, and the
//! embedded model when built with the `local` feature (the default). The
//! fronts get them through [`Clients`]; the core never builds one itself.

use futures_util::future::BoxFuture;
use tern_config::Config;
use tern_core::{Connector, HttpConnector};
use tern_llm::{LlmError, ModelClient};

/// Builds the client a configuration names.
pub(crate) struct Clients;

impl Connector for Clients {
    fn connect<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<Box<dyn ModelClient>, LlmError>> {
        #[cfg(feature = "local")]
        if config.provider.wire_api == tern_config::WireApi::Local {
            return Box::pin(local(config.clone()));
        }
        // Without the embedded model, HttpConnector says this build lacks it.
        HttpConnector.connect(config)
    }
}

/// Starts the embedded model's thread; it loads while the session opens.
#[cfg(feature = "local")]
async fn local(config: Config) -> Result<Box<dyn ModelClient>, LlmError> {
    use tern_llm::ErrorKind;
    let started = tokio::task::spawn_blocking(move || tern_local::connect(&config)).await;
    match started {
        Ok(Ok(client)) => Ok(Box::new(client)),
        Ok(Err(e)) => Err(LlmError::new(ErrorKind::Unavailable, e.to_string()).caused_by(e)),
        Err(e) => Err(LlmError::new(ErrorKind::Unavailable, format!("starting the local model: {e}")).caused_by(e)),
    }
}
