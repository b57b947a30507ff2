//! Voice profiles: a name and the mean voice embedding of every session speaker given that
//! name, kept in `voices.sqlite3` in the data dir. Renaming a speaker enrols the session's
//! voice under the name (a running mean, with its count); a new session's speakers are
//! matched to the profiles by cosine similarity. Embeddings never leave this file: the API
//! lists names and counts only, and deleting a profile deletes its embedding.

use std::path::Path;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::queue::Db;

/// A session voice at least this similar (cosine) to a profile is that person. CAM++ puts
/// stretches of one voice at 0.4–0.8 and different voices below 0.3; a profile's mean over
/// sessions is steadier than one stretch, so the line sits between, nearer the top.
pub const SAME_VOICE: f32 = 0.5;

const SCHEMA: &[&str] = &["
    CREATE TABLE profiles (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        -- The running mean of the enrolled voices: little-endian f32s.
        embedding BLOB NOT NULL,
        -- How many session voices the mean is over.
        count INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    -- Each diarized session's speakers: their voice, and what became of it.
    CREATE TABLE session_voices (
        session_id TEXT NOT NULL,
        speaker INTEGER NOT NULL,
        embedding BLOB NOT NULL,
        -- The profile it was recognised as or enrolled into.
        profile_id INTEGER REFERENCES profiles(id) ON DELETE SET NULL,
        -- 1 when its name came from a profile (recognised), 0 when the user gave it.
        recognised INTEGER NOT NULL DEFAULT 0,
        -- 1 when it is part of its profile's mean.
        enrolled INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, speaker)
    );
"];

/// A profile as the API shows it: never its embedding.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Profile {
    pub id: i64,
    pub name: String,
    /// Session voices its mean is over.
    pub sessions: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What is known of one speaker of a session.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionVoice {
    pub speaker: u32,
    /// The profile's name when it was recognised or enrolled.
    pub profile: Option<String>,
    pub recognised: bool,
    pub enrolled: bool,
}

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("no voice profile {0}")]
    NoProfile(i64),
    #[error("a voice profile is already called {0:?}")]
    NameTaken(String),
    #[error("speaker {speaker} of session {session} has no voice on record (it was not diarized here)")]
    NoVoice { session: String, speaker: u32 },
    #[error("speaker {speaker} of session {session} is not enrolled in a voice profile")]
    NotEnrolled { session: String, speaker: u32 },
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// `v` scaled to length one (a zero vector stays zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v.to_vec() }
}

/// Cosine similarity; vectors of different lengths are unalike.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (a, b) = (normalized(a), normalized(b));
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

/// The voice profiles database.
pub struct Voices {
    db: Db,
}

impl std::fmt::Debug for Voices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Voices")
    }
}

impl Voices {
    pub fn open(path: &Path) -> Result<Voices> {
        let db = Db::open(path, SCHEMA, "voice profiles")?;
        db.with(|c| c.pragma_update(None, "foreign_keys", "ON"))?;
        Ok(Voices { db })
    }

    pub fn profiles(&self) -> Result<Vec<Profile>> {
        self.db.with(|c| {
            let mut q = c.prepare("SELECT id, name, count, created_ms, updated_ms FROM profiles ORDER BY name")?;
            let rows = q.query_map([], |r| Ok(Profile { id: r.get(0)?, name: r.get(1)?, sessions: r.get(2)?, created_ms: r.get(3)?, updated_ms: r.get(4)? }))?;
            rows.collect()
        })
    }

    /// Records a diarized session's speaker voices (replacing an earlier diarization's) and
    /// names those that match a profile: returns, per speaker, the recognised profile name.
    /// Each profile names one speaker at most, the one most like it.
    pub fn remember_and_recognise(&self, session_id: &str, voices: &[Vec<f32>]) -> Result<Vec<Option<String>>> {
        let profiles: Vec<(i64, String, Vec<f32>)> = self.db.with(|c| {
            let mut q = c.prepare("SELECT id, name, embedding FROM profiles")?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, from_blob(&r.get::<_, Vec<u8>>(2)?))))?;
            rows.collect()
        })?;
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (s, voice) in voices.iter().enumerate() {
            for (p, (_, _, mean)) in profiles.iter().enumerate() {
                let similarity = cosine(voice, mean);
                if similarity >= SAME_VOICE {
                    pairs.push((similarity, s, p));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut names: Vec<Option<(i64, String)>> = vec![None; voices.len()];
        let mut used = vec![false; profiles.len()];
        for (_, s, p) in pairs {
            if names[s].is_none() && !used[p] {
                used[p] = true;
                names[s] = Some((profiles[p].0, profiles[p].1.clone()));
            }
        }
        self.db.with(|c| {
            c.execute("DELETE FROM session_voices WHERE session_id = ?1", params![session_id])?;
            for (s, voice) in voices.iter().enumerate() {
                let profile = names[s].as_ref().map(|(id, _)| *id);
                c.execute(
                    "INSERT INTO session_voices (session_id, speaker, embedding, profile_id, recognised) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![session_id, s as i64, to_blob(&normalized(voice)), profile, profile.is_some()],
                )?;
            }
            Ok(())
        })?;
        Ok(names.into_iter().map(|n| n.map(|(_, name)| name)).collect())
    }

    /// What is known of each speaker of a session.
    pub fn session(&self, session_id: &str) -> Result<Vec<SessionVoice>> {
        self.db.with(|c| {
            let mut q = c.prepare(
                "SELECT v.speaker, p.name, v.recognised, v.enrolled FROM session_voices v LEFT JOIN profiles p ON p.id = v.profile_id \
                 WHERE v.session_id = ?1 ORDER BY v.speaker",
            )?;
            let rows = q.query_map(params![session_id], |r| {
                Ok(SessionVoice { speaker: r.get::<_, i64>(0)? as u32, profile: r.get(1)?, recognised: r.get(2)?, enrolled: r.get(3)? })
            })?;
            rows.collect()
        })
    }

    /// The user named speaker `speaker` of a session `name`: its voice joins the profile of
    /// that name (made when there is none), leaving a profile it was enrolled in before.
    pub fn enrol(&self, session_id: &str, speaker: u32, name: &str, now_ms: i64) -> Result<(), VoiceError> {
        let no_voice = || VoiceError::NoVoice { session: session_id.into(), speaker };
        self.db
            .with(|c| {
                let tx = c.unchecked_transaction()?;
                let Some((voice, profile, enrolled)) = voice_row(&tx, session_id, speaker)? else { return Ok(Err(no_voice())) };
                let target: Option<i64> = tx.query_row("SELECT id FROM profiles WHERE name = ?1", params![name], |r| r.get(0)).optional()?;
                if enrolled && profile.is_some() && profile == target {
                    return Ok(Ok(()));
                }
                if let (true, Some(old)) = (enrolled, profile) {
                    withdraw(&tx, old, &voice, now_ms)?;
                }
                let id = match target {
                    Some(id) => {
                        let (mean, count): (Vec<u8>, i64) =
                            tx.query_row("SELECT embedding, count FROM profiles WHERE id = ?1", params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                        let mean = from_blob(&mean);
                        let n = count as f32;
                        let updated: Vec<f32> = mean.iter().zip(&voice).map(|(m, v)| (m * n + v) / (n + 1.0)).collect();
                        tx.execute(
                            "UPDATE profiles SET embedding = ?2, count = count + 1, updated_ms = ?3 WHERE id = ?1",
                            params![id, to_blob(&updated), now_ms],
                        )?;
                        id
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO profiles (name, embedding, count, created_ms, updated_ms) VALUES (?1, ?2, 1, ?3, ?3)",
                            params![name, to_blob(&voice), now_ms],
                        )?;
                        tx.last_insert_rowid()
                    }
                };
                tx.execute(
                    "UPDATE session_voices SET profile_id = ?3, enrolled = 1, recognised = 0 WHERE session_id = ?1 AND speaker = ?2",
                    params![session_id, speaker, id],
                )?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .map_err(VoiceError::Store)?
    }

    /// Takes a session speaker's voice out of the profile it was enrolled in (a wrong
    /// enrolment); a profile left with no voice is deleted.
    pub fn forget(&self, session_id: &str, speaker: u32, now_ms: i64) -> Result<(), VoiceError> {
        self.db
            .with(|c| {
                let tx = c.unchecked_transaction()?;
                let Some((voice, profile, enrolled)) = voice_row(&tx, session_id, speaker)? else {
                    return Ok(Err(VoiceError::NoVoice { session: session_id.into(), speaker }));
                };
                let (true, Some(profile)) = (enrolled, profile) else {
                    return Ok(Err(VoiceError::NotEnrolled { session: session_id.into(), speaker }));
                };
                withdraw(&tx, profile, &voice, now_ms)?;
                tx.execute(
                    "UPDATE session_voices SET profile_id = NULL, enrolled = 0, recognised = 0 WHERE session_id = ?1 AND speaker = ?2",
                    params![session_id, speaker],
                )?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .map_err(VoiceError::Store)?
    }

    pub fn rename(&self, id: i64, name: &str, now_ms: i64) -> Result<Profile, VoiceError> {
        self.db
            .with(|c| {
                let taken: Option<i64> = c.query_row("SELECT id FROM profiles WHERE name = ?1", params![name], |r| r.get(0)).optional()?;
                if taken.is_some_and(|t| t != id) {
                    return Ok(Err(VoiceError::NameTaken(name.into())));
                }
                if c.execute("UPDATE profiles SET name = ?2, updated_ms = ?3 WHERE id = ?1", params![id, name, now_ms])? == 0 {
                    return Ok(Err(VoiceError::NoProfile(id)));
                }
                c.query_row("SELECT id, name, count, created_ms, updated_ms FROM profiles WHERE id = ?1", params![id], |r| {
                    Ok(Ok(Profile { id: r.get(0)?, name: r.get(1)?, sessions: r.get(2)?, created_ms: r.get(3)?, updated_ms: r.get(4)? }))
                })
            })
            .map_err(VoiceError::Store)?
    }

    /// Deletes a profile and its embedding; the sessions' own voices stay, unenrolled.
    pub fn delete(&self, id: i64) -> Result<bool> {
        self.db.with(|c| {
            c.execute("UPDATE session_voices SET enrolled = 0, recognised = 0 WHERE profile_id = ?1", params![id])?;
            Ok(c.execute("DELETE FROM profiles WHERE id = ?1", params![id])? > 0)
        })
    }

    /// Forgets a deleted session's voices.
    pub fn drop_session(&self, session_id: &str) -> Result<()> {
        self.db.with(|c| c.execute("DELETE FROM session_voices WHERE session_id = ?1", params![session_id]).map(drop))
    }
}

/// A session speaker's voice, the profile it belongs to, and whether it is enrolled there.
type VoiceRow = (Vec<f32>, Option<i64>, bool);

fn voice_row(tx: &rusqlite::Transaction<'_>, session_id: &str, speaker: u32) -> rusqlite::Result<Option<VoiceRow>> {
    tx.query_row(
        "SELECT embedding, profile_id, enrolled FROM session_voices WHERE session_id = ?1 AND speaker = ?2",
        params![session_id, speaker],
        |r| Ok((from_blob(&r.get::<_, Vec<u8>>(0)?), r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// Takes `voice` out of profile `id`'s running mean; deletes the profile when none is left.
fn withdraw(tx: &rusqlite::Transaction<'_>, id: i64, voice: &[f32], now_ms: i64) -> rusqlite::Result<()> {
    let Some((mean, count)): Option<(Vec<u8>, i64)> =
        tx.query_row("SELECT embedding, count FROM profiles WHERE id = ?1", params![id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?
    else {
        return Ok(());
    };
    if count <= 1 {
        tx.execute("UPDATE session_voices SET profile_id = NULL, recognised = 0 WHERE profile_id = ?1", params![id])?;
        tx.execute("DELETE FROM profiles WHERE id = ?1", params![id])?;
        return Ok(());
    }
    let n = count as f32;
    let mean = from_blob(&mean);
    let updated: Vec<f32> = mean.iter().zip(voice).map(|(m, v)| (m * n - v) / (n - 1.0)).collect();
    tx.execute("UPDATE profiles SET embedding = ?2, count = count - 1, updated_ms = ?3 WHERE id = ?1", params![id, to_blob(&updated), now_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voices() -> (tempfile::TempDir, Voices) {
        let dir = tempfile::tempdir().expect("temp dir");
        let voices = Voices::open(&dir.path().join("voices.sqlite3")).expect("open");
        (dir, voices)
    }

    #[test]
    fn a_named_voice_is_recognised_in_the_next_session_and_forgetting_it_removes_it() {
        let (_dir, v) = voices();
        let alice = vec![1.0, 0.1, 0.0];
        let bob = vec![0.0, 0.2, 1.0];
        assert_eq!(v.remember_and_recognise("a", &[alice.clone(), bob.clone()]).expect("a"), vec![None, None]);
        v.enrol("a", 0, "Alice", 1).expect("enrol");
        assert_eq!(v.profiles().expect("list")[0].sessions, 1);

        // Both voices alike Alice: only the closer one gets her name.
        let names = v.remember_and_recognise("b", &[bob.clone(), vec![0.9, 0.2, 0.0], vec![1.0, 0.1, 0.05]]).expect("b");
        assert_eq!(names, vec![None, None, Some("Alice".into())]);
        assert!(v.session("b").expect("b")[2].recognised);

        // Enrolling a second session refines the mean; forgetting takes it out again.
        v.enrol("b", 1, "Alice", 2).expect("enrol b");
        assert_eq!(v.profiles().expect("list")[0].sessions, 2);
        v.forget("b", 1, 3).expect("forget b");
        v.forget("a", 0, 4).expect("forget a");
        assert!(v.profiles().expect("list").is_empty());
        assert_eq!(v.remember_and_recognise("c", &[alice]).expect("c"), vec![None]);
        assert!(matches!(v.forget("c", 0, 5), Err(VoiceError::NotEnrolled { .. })));
        assert!(matches!(v.enrol("c", 7, "X", 5), Err(VoiceError::NoVoice { .. })));
    }

    #[test]
    fn renaming_and_deleting_a_profile() {
        let (_dir, v) = voices();
        v.remember_and_recognise("a", &[vec![1.0, 0.0], vec![0.0, 1.0]]).expect("a");
        v.enrol("a", 0, "Alice", 1).expect("alice");
        v.enrol("a", 1, "Bob", 1).expect("bob");
        let alice = v.profiles().expect("list").into_iter().find(|p| p.name == "Alice").expect("alice");
        assert!(matches!(v.rename(alice.id, "Bob", 2), Err(VoiceError::NameTaken(_))));
        assert_eq!(v.rename(alice.id, "Alice B.", 2).expect("rename").name, "Alice B.");
        assert!(v.delete(alice.id).expect("delete"));
        assert!(!v.delete(alice.id).expect("again"));
        assert_eq!(v.profiles().expect("list").len(), 1);
        assert_eq!(v.session("a").expect("a")[0], SessionVoice { speaker: 0, profile: None, recognised: false, enrolled: false });
    }
}
