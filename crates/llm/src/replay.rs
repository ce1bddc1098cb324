//! A wire's decoder run on a recorded response body, without HTTP: what
//! the fuzz targets (`fuzz/`) and their regression tests drive. Not for
//! tern's own use; the clients read the same way from a live connection.

use crate::error::Origin;
use crate::http::Sse;
use crate::stream::Shown;
use crate::{LlmError, Response, StreamDelta};
use tern_config::WireApi;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a wire's decoder made of one body.
#[derive(Debug)]
pub struct Replayed {
    /// The assembled response, or the error the attempt ends with.
    pub result: Result<Response, LlmError>,
    /// The deltas it sent for display, in order.
    pub deltas: Vec<StreamDelta>,
}

/// Decodes `chunks`, the SSE body of one attempt as `wire`'s server would
/// send it, arriving in these pieces before the server closes the
/// connection. Needs a Tokio runtime with time enabled (the reader's idle
/// timeout). `WireApi::Local` has no wire format: an `Unavailable` error.
pub async fn decode(wire: WireApi, chunks: &[&[u8]]) -> Replayed {
    let origin = Origin { provider: "replay", url: "http://replay.invalid/v1", model: "m", api_key_env: None };
    let sse = Sse::replay(chunks.iter().map(|c| bytes::Bytes::copy_from_slice(c)).collect(), origin.provider);
    let (tx, mut rx) = mpsc::channel(64);
    let read = async move {
        let (mut shown, cancel) = (Shown::default(), CancellationToken::new());
        shown.new_attempt();
        let result = match wire {
            WireApi::Chat => crate::chat::read(sse, &origin, &mut shown, &tx, &cancel).await,
            WireApi::Responses => crate::responses::read(sse, &origin, &mut shown, &tx, &cancel).await,
            WireApi::Anthropic => crate::anthropic::read(sse, &origin, &mut shown, &tx, &cancel).await,
            WireApi::Gemini => crate::gemini::read(sse, &origin, &mut shown, &tx, &cancel).await,
            WireApi::Local => {
                Err(LlmError::new(crate::ErrorKind::Unavailable, "the local model has no wire format to decode"))
            }
        };
        drop(tx); // ends the drain below
        result
    };
    let drain = async {
        let mut deltas = Vec::new();
        while let Some(d) = rx.recv().await {
            deltas.push(d);
        }
        deltas
    };
    let (result, deltas) = tokio::join!(read, drain);
    Replayed { result, deltas }
}
