//! The worker's current session with the master, and the check of the master's calls against it.
//!
//! The link sets the session when the worker registers and clears it the moment the worker loses
//! its master (fenced) or stops. Every order of the master names the session it is addressed to
//! (`weir-session` metadata, stamped by the master): an order for any session but the current one
//! — sent before the worker was fenced, or to a registration that has ended — is refused, so a
//! fenced worker neither starts a task nor takes or commits a checkpoint.
//!
//! The master may deploy to a worker as soon as it has answered its registration, which can be
//! before the worker has read that answer: an order that arrives while a registration is in
//! flight waits for its outcome (at most [`REGISTRATION_WAIT`]) before it is checked.

use std::time::Duration;

use tokio::sync::watch;
use tonic::{Request, Status};
use weir_proto::SESSION_METADATA;

/// How long an order of the master waits for a registration in flight to complete.
const REGISTRATION_WAIT: Duration = Duration::from_secs(5);

/// Where the worker stands with the master.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not registered: no order is taken.
    None,
    /// A registration was sent; its answer names the session.
    Registering,
    /// Registered under this session id.
    Current(String),
}

/// The session id of the worker's current registration, if it has one.
#[derive(Debug, Clone)]
pub struct CurrentSession(watch::Sender<State>);

impl Default for CurrentSession {
    fn default() -> Self {
        Self(watch::Sender::new(State::None))
    }
}

impl CurrentSession {
    /// A registration is on its way to the master.
    pub fn registering(&self) {
        self.0.send_replace(State::Registering);
    }

    /// The worker registered and got `session_id`.
    pub fn set(&self, session_id: String) {
        self.0.send_replace(State::Current(session_id));
    }

    /// The session ended (the worker lost its master, or is stopping), or a registration
    /// failed; returns the session that ended, if any.
    pub fn clear(&self) -> Option<String> {
        match self.0.send_replace(State::None) {
            State::Current(session_id) => Some(session_id),
            State::None | State::Registering => None,
        }
    }

    /// Whether `session_id` is the current session.
    pub fn is(&self, session_id: &str) -> bool {
        matches!(&*self.0.borrow(), State::Current(current) if current == session_id)
    }

    /// The session a call of the master is addressed to, if it is the current one (once a
    /// registration in flight has completed); otherwise a `FailedPrecondition` saying why the
    /// call is refused.
    pub async fn check<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let named = request
            .metadata()
            .get(SESSION_METADATA)
            .and_then(|value| value.to_str().ok());
        let mut state = self.0.subscribe();
        let settled = tokio::time::timeout(
            REGISTRATION_WAIT,
            state.wait_for(|state| *state != State::Registering),
        )
        .await;
        let current = match settled {
            Ok(Ok(state)) => match &*state {
                State::Current(current) => Some(current.clone()),
                State::None | State::Registering => None,
            },
            // Still registering (or the link is gone): no session to take orders under.
            Ok(Err(_)) | Err(_) => None,
        };
        check(current.as_deref(), named).map(str::to_string)
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

    #[tokio::test]
    async fn only_calls_to_the_current_session_pass() {
        let session = CurrentSession::default();
        let refused = session.check(&addressed_to(Some("s1"))).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert!(refused.message().contains("has no session"), "{refused:?}");

        session.set("s1".into());
        assert_eq!(
            session.check(&addressed_to(Some("s1"))).await.unwrap(),
            "s1"
        );
        assert!(session.is("s1"));
        let unnamed = session.check(&addressed_to(None)).await.unwrap_err();
        assert!(unnamed.message().contains("names no worker session"));

        // Registered again: orders for the earlier registration are refused.
        session.set("s2".into());
        let stale = session.check(&addressed_to(Some("s1"))).await.unwrap_err();
        assert!(
            stale.message().contains("this worker's session is s2"),
            "{stale:?}"
        );

        // Fenced: nothing passes until it registers again.
        assert_eq!(session.clear().as_deref(), Some("s2"));
        assert!(session.check(&addressed_to(Some("s2"))).await.is_err());
        assert!(!session.is("s2"));
    }

    #[tokio::test]
    async fn an_order_racing_the_registration_answer_waits_for_it() {
        let session = CurrentSession::default();
        session.registering();
        let early = {
            let session = session.clone();
            tokio::spawn(async move { session.check(&addressed_to(Some("s3"))).await })
        };
        tokio::task::yield_now().await;
        assert!(
            !early.is_finished(),
            "it waits while the registration is in flight"
        );
        session.set("s3".into());
        assert_eq!(early.await.unwrap().unwrap(), "s3");

        // A registration that fails leaves no session to take orders under.
        session.registering();
        let orphan = {
            let session = session.clone();
            tokio::spawn(async move { session.check(&addressed_to(Some("s3"))).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(session.clear(), None);
        assert!(orphan.await.unwrap().is_err());
    }
}
