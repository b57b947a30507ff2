//! Start-up repair of the file queue. A stop can come between any two steps of a
//! submission or a job (SIGKILL, power cut); before the workers start, every file session and
//! every claimed file ends up either queued with a job, finished with a reason, or gone when
//! nobody was ever told of it. Nothing stays `queued` or `processing` with no job behind it.

use anyhow::Result;

use super::FilePipeline;
use crate::sinks::events::{Event, LibraryChange};
use crate::queue::files::{Job, JobAsk, JobState};
use crate::clients::library::{SessionFilter, SessionKind, SessionStatus};

/// Sessions read per library call while looking for stranded ones.
const PAGE: u32 = 200;

impl FilePipeline {
    /// Repairs what the last stop left half-done. Run before the workers start.
    pub async fn reconcile(&self) {
        if let Err(err) = self.reconcile_claims().await {
            tracing::error!("repairing interrupted submissions failed: {err:#}");
        }
        if let Err(err) = self.reconcile_sessions().await {
            tracing::error!("repairing stranded file sessions failed: {err:#}");
        }
    }

    /// Claims made by a submission that stopped before its job was queued.
    async fn reconcile_claims(&self) -> Result<()> {
        for job in self.jobs.staged().await? {
            let session = self.library.get_session(job.session_id.clone()).await?;
            let record = match &session {
                Some(_) => self.library.get_audio_file(job.session_id.clone()).await?,
                None => None,
            };
            let stored = self.audio.find(&job.sha256).await;
            if let (Some(_), Some(_), Some(path)) = (&session, &record, &stored) {
                // What a client asked of it went with the client, who had no answer.
                self.jobs.promote(job.id, path, &JobAsk::default()).await?;
                tracing::info!(session = %job.session_id, "a submission interrupted by the last stop is queued");
                continue;
            }
            // The session was never complete, so nobody was told of it: everything of the
            // submission goes, and the same bytes can come again (an inbox file is still
            // in the inbox).
            if session.is_some() {
                self.library.delete_session(job.session_id.clone()).await?;
            }
            self.jobs.discard(job.id).await?;
            if stored.is_some() {
                self.audio.remove(&job.sha256).await?;
            }
            tracing::info!(session = %job.session_id, "removed a submission interrupted by the last stop");
        }
        Ok(())
    }

    /// File sessions that say `queued` or `processing` with no job that will finish them.
    async fn reconcile_sessions(&self) -> Result<()> {
        let mut stranded = Vec::new();
        for status in [SessionStatus::Queued, SessionStatus::Processing] {
            let filter =
                SessionFilter { kind: Some(SessionKind::File), status: Some(status), created_from_ms: None, created_before_ms: None };
            let mut cursor = None;
            loop {
                let page = self.library.list_sessions(filter, cursor, PAGE).await?;
                stranded.extend(page.sessions.into_iter().map(|s| (s.id, s.status)));
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
        for (id, status) in stranded {
            match self.jobs.get(&id).await? {
                Some(job) => self.settle_session(job, status).await,
                None => self.requeue_or_remove(&id).await?,
            }
        }
        Ok(())
    }

    /// A session whose job exists: its status follows the job.
    async fn settle_session(&self, job: Job, status: SessionStatus) {
        match job.state {
            // The job runs again.
            JobState::Queued | JobState::Staged => {
                if matches!(status, SessionStatus::Processing) {
                    self.set_status(&job.session_id, SessionStatus::Queued, None).await;
                }
            }
            // Another node of a cluster runs it: what this daemon was running when it stopped
            // was queued again when the queue was first used.
            JobState::Running => {}
            JobState::Done => self.set_status(&job.session_id, SessionStatus::Complete, None).await,
            JobState::Failed => {
                let reason = job.last_error.clone().unwrap_or_else(|| "the transcription failed".into());
                self.fail_session(&job, reason).await;
            }
        }
    }

    /// A session with no job at all: queued again when its audio is there, else removed
    /// (it never had a transcript, and without audio it never will).
    async fn requeue_or_remove(&self, id: &str) -> Result<()> {
        if !self.library.list_versions(id.to_string()).await?.is_empty() {
            self.set_status(id, SessionStatus::Complete, None).await;
            return Ok(());
        }
        let record = self.library.get_audio_file(id.to_string()).await?;
        let stored = match &record {
            Some(record) => self.audio.find(&record.sha256).await,
            None => None,
        };
        if let (Some(record), Some(path)) = (record, stored)
            && self.jobs.insert(id, &record.sha256, &path, None).await.is_ok()
        {
            tracing::info!(session = id, "a file session without a job is queued again");
            self.jobs.wake().notify_one();
            return Ok(());
        }
        // No audio, or the same bytes belong to another session: this one is a leftover.
        self.library.delete_session(id.to_string()).await?;
        self.events.publish(Event::Library { session_id: id.to_string(), change: LibraryChange::Deleted });
        tracing::info!(session = id, "removed a file session without a job or audio");
        Ok(())
    }
}
