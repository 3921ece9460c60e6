//! The audit trail of one use of a credential.

use super::*;

/// The audit trail of one use: `credential.use` (committed before the call leaves, or
/// `refused`), then `credential.use.result` with the outcome. If the caller goes away
/// mid-call, the result is written as `abandoned` when the call is dropped; if it goes away
/// while its use is being committed, the audit sink writes it (see [`abandoned_after`]), and
/// if its use was never stored, nothing is written: a result always has its use.
pub(super) struct UseTrail<'a> {
    audit: &'a AuditSink,
    caller: &'a Caller,
    resolved: &'a Resolved,
    host: &'a str,
    web_service_id: Option<&'a str>,
    /// Ties the use to its result.
    call_id: String,
    started: Instant,
    /// Its use is on record.
    committed: bool,
    finished: bool,
}

/// The result of a use that was stored after its caller had gone (the call never left):
/// `abandoned`, with the use's `call_id` and subject.
pub(crate) fn abandoned_after(stored: NewAuditEvent) -> NewAuditEvent {
    #[derive(serde::Deserialize)]
    struct Use {
        call_id: String,
    }
    let call_id = stored
        .detail
        .as_deref()
        .and_then(|detail| serde_json::from_str::<Use>(detail).ok())
        .map(|u| u.call_id);
    let now = now_ms();
    let detail = UseDetail {
        call_id: call_id.as_deref().unwrap_or_default(),
        host: None,
        duration_ms: stored.at.and_then(|at| u64::try_from(now - at).ok()),
        status: None,
        error: Some(CALLER_GONE),
        web_service_id: None,
    };
    NewAuditEvent {
        at: Some(now),
        action: Stage::Abandoned.action(),
        outcome: Stage::Abandoned.outcome(),
        detail: serde_json::to_string(&detail).ok(),
        ..stored
    }
}

/// The error of an `abandoned` result.
const CALLER_GONE: &str = "caller_gone";

/// The audit detail of a credential use; never bodies or secrets. The host and web service
/// are on the use (or refusal) only: a result names its use by `call_id`, which keeps the two
/// events of every call small (issue 12: the log grows with every call).
#[derive(Serialize)]
struct UseDetail<'a> {
    call_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_service_id: Option<&'a str>,
}

/// A call ID unique across replicas without asking the OS for randomness on every call: a
/// random prefix per process and a counter.
fn call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Where a use stands; decides the event's action, outcome and detail.
#[derive(Clone, Copy)]
pub(super) enum Stage {
    /// About to be sent: committed before it leaves.
    Started,
    /// Refused before anything was sent, with the error code.
    Refused(&'static str),
    /// The upstream answered with this status.
    Answered(u16),
    /// No answer, with the error code.
    Failed(&'static str),
    /// Dropped midway (the caller's future went away).
    Abandoned,
}

impl Stage {
    fn action(self) -> AuditAction {
        match self {
            Stage::Started | Stage::Refused(_) => AuditAction::CredentialUse,
            _ => AuditAction::CredentialUseResult,
        }
    }

    fn outcome(self) -> AuditOutcome {
        match self {
            Stage::Started => AuditOutcome::Started,
            Stage::Refused(_) => AuditOutcome::Refused,
            Stage::Answered(_) => AuditOutcome::Success,
            Stage::Failed(_) => AuditOutcome::Failure,
            Stage::Abandoned => AuditOutcome::Abandoned,
        }
    }
}

impl<'a> UseTrail<'a> {
    pub(super) fn new(
        audit: &'a AuditSink,
        caller: &'a Caller,
        resolved: &'a Resolved,
        host: &'a str,
        web_service_id: Option<&'a str>,
        started: Instant,
    ) -> Self {
        Self {
            audit,
            caller,
            resolved,
            host,
            web_service_id,
            call_id: call_id(),
            started,
            committed: false,
            finished: false,
        }
    }

    /// Commits the use; the call may leave only if this succeeds.
    pub(super) async fn begin(&mut self) -> Result<(), crate::AuditFailure> {
        self.audit.commit(self.event(Stage::Started)).await?;
        self.committed = true;
        Ok(())
    }

    pub(super) fn event(&self, stage: Stage) -> NewAuditEvent {
        let first = matches!(stage, Stage::Started | Stage::Refused(_));
        let detail = UseDetail {
            call_id: &self.call_id,
            host: first.then_some(self.host),
            duration_ms: (!matches!(stage, Stage::Started)).then(|| millis(self.started.elapsed())),
            status: match stage {
                Stage::Answered(status) => Some(status),
                _ => None,
            },
            error: match stage {
                Stage::Refused(code) | Stage::Failed(code) => Some(code),
                Stage::Abandoned => Some(CALLER_GONE),
                _ => None,
            },
            web_service_id: self.web_service_id.filter(|_| first),
        };
        let row = &self.resolved.row;
        let event = NewAuditEvent::new(stage.action(), stage.outcome())
            .by(Some(&self.caller.user_id), &self.caller.user_name)
            .on(&row.org_id, &row.id, &row.owner_id)
            // The time of the call, not of the batched write.
            .at(now_ms());
        match serde_json::to_string(&detail) {
            Ok(json) => event.detail(json),
            Err(_) => event,
        }
    }

    pub(super) async fn refused(&mut self, err: &DispatchError) {
        self.finished = true;
        self.audit
            .record(self.event(Stage::Refused(err.code())))
            .await;
    }

    pub(super) async fn finish(&mut self, result: &Result<Answer, DispatchError>) {
        self.settle(match result {
            Ok(answer) => Stage::Answered(answer.status),
            Err(err) => Stage::Failed(err.code()),
        })
        .await;
    }

    pub(super) async fn settle(&mut self, stage: Stage) {
        self.finished = true;
        self.audit.record(self.event(stage)).await;
    }
}

impl Drop for UseTrail<'_> {
    fn drop(&mut self) {
        // Before its use was committed, a call dropped has no use on record, or one the
        // sink ends itself.
        if self.committed && !self.finished {
            self.audit.record_now(self.event(Stage::Abandoned));
        }
    }
}
