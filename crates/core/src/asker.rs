//! The approval round trip: a tool's question becomes an
//! `ApprovalRequest` event; the front's `Approval` op (routed here by the
//! session loop) answers it.

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tern_protocol::{ApprovalDecision, ApprovalRequest, Event, HookEvent};
use tern_tools::approvals::Asker;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

type Answer = (ApprovalDecision, Option<String>);

/// Questions waiting for an answer, by request id.
#[derive(Clone, Default)]
pub(crate) struct Pending(Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>);

impl Pending {
    /// Delivers an answer; an unknown id (already cancelled) is ignored.
    pub(crate) fn answer(&self, id: &str, decision: ApprovalDecision, note: Option<String>) {
        if let Some(tx) = self.0.lock().remove(id) {
            let _ = tx.send((decision, note));
        }
    }
}

pub(crate) struct SessionAsker {
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) pending: Pending,
    /// The session's hooks (set once the session exists), for Notification.
    pub(crate) hooks: Arc<std::sync::OnceLock<Arc<tern_hooks::Hooks>>>,
}

impl Asker for SessionAsker {
    fn ask<'a>(&'a self, request: ApprovalRequest, cancel: &'a CancellationToken) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let id = request.id.clone();
            let request_text =
                request.mcp.as_ref().map_or_else(|| request.command.clone(), |m| format!("{}.{}", m.server, m.tool));
            self.pending.0.lock().insert(id.clone(), tx);
            if self.events.send(Event::ApprovalRequest(request)).await.is_err() {
                self.pending.0.lock().remove(&id);
                return (ApprovalDecision::Deny, Some("nobody is listening for approvals".into()));
            }
            let answer = async {
                tokio::select! {
                    answer = rx => answer.unwrap_or((ApprovalDecision::Deny, None)),
                    () = cancel.cancelled() => {
                        self.pending.0.lock().remove(&id);
                        (ApprovalDecision::Deny, None)
                    }
                }
            };
            // Notification hooks (a desktop alert, a chat message) run while
            // the question waits; once the user has answered, one still
            // running is ended (the user is here).
            match self.hooks.get().filter(|h| h.any(HookEvent::Notification)) {
                Some(hooks) => {
                    let message = format!("tern needs your permission: {}", notice(&request_text));
                    let fields = [
                        ("message".to_string(), message.into()),
                        ("notification_type".to_string(), "permission_prompt".into()),
                    ];
                    let notify = hooks.run(
                        HookEvent::Notification,
                        &["permission_prompt"],
                        fields.into_iter().collect(),
                        cancel,
                    );
                    tokio::pin!(answer);
                    tokio::select! {
                        a = &mut answer => a,
                        _ = notify => answer.await,
                    }
                }
                None => answer.await,
            }
        })
    }
}

/// The request, shortened for a notification.
fn notice(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
