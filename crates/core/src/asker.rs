//! The approval round trip: a tool's question becomes an
//! `ApprovalRequest` event; the front's `Approval` op (routed here by the
//! session loop) answers it.

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tern_protocol::{ApprovalDecision, ApprovalRequest, Event};
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
}

impl Asker for SessionAsker {
    fn ask<'a>(&'a self, request: ApprovalRequest, cancel: &'a CancellationToken) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let id = request.id.clone();
            self.pending.0.lock().insert(id.clone(), tx);
            if self.events.send(Event::ApprovalRequest(request)).await.is_err() {
                self.pending.0.lock().remove(&id);
                return (ApprovalDecision::Deny, Some("nobody is listening for approvals".into()));
            }
            tokio::select! {
                answer = rx => answer.unwrap_or((ApprovalDecision::Deny, None)),
                () = cancel.cancelled() => {
                    self.pending.0.lock().remove(&id);
                    (ApprovalDecision::Deny, None)
                }
            }
        })
    }
}
