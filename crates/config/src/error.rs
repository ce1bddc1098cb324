use std::path::PathBuf;

/// Why configuration could not be loaded. Every variant says where the
/// problem is and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file (or `-c` value) is not valid TOML or has a bad key/value.
    #[error("{source_name}:{line}:{column}: {key_part}{message}")]
    Invalid {
        source_name: String,
        line: usize,
        column: usize,
        /// The dotted key at fault, when known.
        key: Option<String>,
        key_part: String,
        message: String,
    },
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("bad -c override `{arg}`: {reason} (expected key=value, e.g. -c model=\"gpt-5.1\")")]
    Override { arg: String, reason: String },
    #[error("unknown provider `{name}` (from {origin}); configured providers: {known}")]
    UnknownProvider { name: String, origin: String, known: String },
    #[error(
        "provider `{provider}` needs an API key in ${var}, which is not set; export it or change \
         `providers.{provider}.api_key_env`"
    )]
    MissingKey { provider: String, var: String },
    #[error("provider `{provider}` has no default model; pass -m MODEL or set `providers.{provider}.model`")]
    NoModel { provider: String },
    /// An MCP server entry that cannot be used as written.
    #[error("{origin}: MCP server `{name}`: {message}")]
    Mcp { name: String, origin: String, message: String },
    /// A hook that cannot be run as written.
    #[error("{origin}: hooks: {message}")]
    Hook { origin: String, message: String },
    #[error("provider `{provider}` has no base_url; set `providers.{provider}.base_url`")]
    NoBaseUrl { provider: String },
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`] from a TOML error in `text`.
    pub(crate) fn from_toml(source_name: &str, text: &str, key: Option<String>, err: &toml::de::Error) -> Self {
        let (line, column) = match err.span() {
            Some(span) => line_col(text, span.start),
            None => (1, 1),
        };
        let key = key.filter(|k| !k.is_empty() && k != ".");
        let key_part = key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default();
        ConfigError::Invalid {
            source_name: source_name.to_string(),
            line,
            column,
            key,
            key_part,
            message: err.message().trim().to_string(),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}
