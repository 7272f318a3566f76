//! The worker's current session with the master, and the check of the master's calls against it.
//!
//! The link sets the session when the worker registers and clears it the moment the worker loses
//! its master (fenced) or stops. Every order of the master names the session it is addressed to
//! (`weir-session` metadata, stamped by the master): an order for any session but the current one
//! — sent before the worker was fenced, or to a registration that has ended — is refused, so a
//! fenced worker neither starts a task nor takes or commits a checkpoint.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tonic::{Request, Status};
use weir_proto::SESSION_METADATA;

/// The session id of the worker's current registration, if it has one.
#[derive(Debug, Clone, Default)]
pub struct CurrentSession(Arc<Mutex<Option<String>>>);

impl CurrentSession {
    fn lock(&self) -> MutexGuard<'_, Option<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker registered and got `session_id`.
    pub fn set(&self, session_id: String) {
        *self.lock() = Some(session_id);
    }

    /// The session ended (the worker lost its master, or is stopping); returns it.
    pub fn clear(&self) -> Option<String> {
        self.lock().take()
    }

    /// Whether `session_id` is the current session.
    pub fn is(&self, session_id: &str) -> bool {
        self.lock().as_deref() == Some(session_id)
    }

    /// The session a call of the master is addressed to, if it is the current one; otherwise
    /// a `FailedPrecondition` saying why the call is refused.
    pub fn check<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let named = request
            .metadata()
            .get(SESSION_METADATA)
            .and_then(|value| value.to_str().ok());
        check(self.lock().as_deref(), named).map(str::to_string)
    }
}

/// The decision of [`CurrentSession::check`]: `named` must be `current`.
fn check<'a>(current: Option<&str>, named: Option<&'a str>) -> Result<&'a str, Status> {
    match (current, named) {
        (_, None) => Err(Status::failed_precondition(format!(
            "the call names no worker session (`{SESSION_METADATA}` metadata); refused"
        ))),
        (None, Some(named)) => Err(Status::failed_precondition(format!(
            "the call is addressed to worker session {named}, but this worker has no session: it lost its master and stopped its tasks, or it is stopping; refused"
        ))),
        (Some(current), Some(named)) if current != named => {
            Err(Status::failed_precondition(format!(
                "the call is addressed to worker session {named}, but this worker's session is {current} (it registered again); refused"
            )))
        }
        (Some(_), Some(named)) => Ok(named),
    }
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    fn addressed_to(session: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(session) = session {
            request
                .metadata_mut()
                .insert(SESSION_METADATA, MetadataValue::try_from(session).unwrap());
        }
        request
    }

    #[test]
    fn only_calls_to_the_current_session_pass() {
        let session = CurrentSession::default();
        let refused = session.check(&addressed_to(Some("s1"))).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert!(refused.message().contains("has no session"), "{refused:?}");

        session.set("s1".into());
        assert_eq!(session.check(&addressed_to(Some("s1"))).unwrap(), "s1");
        assert!(session.is("s1"));
        let unnamed = session.check(&addressed_to(None)).unwrap_err();
        assert!(unnamed.message().contains("names no worker session"));

        // Registered again: orders for the earlier registration are refused.
        session.set("s2".into());
        let stale = session.check(&addressed_to(Some("s1"))).unwrap_err();
        assert!(
            stale.message().contains("this worker's session is s2"),
            "{stale:?}"
        );

        // Fenced: nothing passes until it registers again.
        assert_eq!(session.clear().as_deref(), Some("s2"));
        assert!(session.check(&addressed_to(Some("s2"))).is_err());
        assert!(!session.is("s2"));
    }
}
