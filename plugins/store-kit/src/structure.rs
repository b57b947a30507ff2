//! Paragraphs (with their sentences) and utterances of a transcript version: how the provider
//! grouped the words, kept beside them so the UI and exports need not guess.

use scribe_plugin_api::store_0_3::library::StoreError;
use scribe_plugin_api::store_0_3::types::{
    Paragraph, Sentence, TranscriptStructure, Utterance,
};

use crate::codec::{Value, opt_int, text, to_i64};
use crate::{Database, Result, query, stmt};

fn int(n: u64) -> Result<Value> {
    Ok(Value::Integer(to_i64(n)?))
}

fn speaker(s: Option<u32>) -> Value {
    opt_int(s.map(i64::from))
}

/// Replaces the version's structure in one transaction.
pub fn put<D: Database>(version_id: u64, structure: &TranscriptStructure) -> Result<()> {
    let version = to_i64(version_id)?;
    if query::<D>("SELECT 1 FROM transcript_versions WHERE id = ?1", vec![Value::Integer(version)])?.is_empty() {
        return Err(StoreError::NotFound(format!("transcript version {version_id}")));
    }
    let v = || Value::Integer(version);
    // Sentences go with their paragraphs through the foreign key's cascade.
    let mut statements = vec![
        stmt("DELETE FROM paragraphs WHERE version_id = ?1", vec![v()]),
        stmt("DELETE FROM utterances WHERE version_id = ?1", vec![v()]),
    ];
    for (p, paragraph) in structure.paragraphs.iter().enumerate() {
        statements.push(stmt(
            "INSERT INTO paragraphs (version_id, seq, start_ms, end_ms, speaker) VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![v(), Value::Integer(p as i64), int(paragraph.start_ms)?, int(paragraph.end_ms)?, speaker(paragraph.speaker)],
        ));
        for (s, sentence) in paragraph.sentences.iter().enumerate() {
            statements.push(stmt(
                "INSERT INTO sentences (version_id, paragraph, seq, text, start_ms, end_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![v(), Value::Integer(p as i64), Value::Integer(s as i64), text(&sentence.text), int(sentence.start_ms)?, int(sentence.end_ms)?],
            ));
        }
    }
    for (u, utterance) in structure.utterances.iter().enumerate() {
        statements.push(stmt(
            "INSERT INTO utterances (version_id, seq, text, start_ms, end_ms, confidence, speaker) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                v(),
                Value::Integer(u as i64),
                text(&utterance.text),
                int(utterance.start_ms)?,
                int(utterance.end_ms)?,
                Value::Real(f64::from(utterance.confidence)),
                speaker(utterance.speaker),
            ],
        ));
    }
    D::transaction(&statements)?;
    Ok(())
}

/// The version's structure; empty when none was stored.
pub fn get<D: Database>(version_id: u64) -> Result<TranscriptStructure> {
    let version = || Ok::<_, StoreError>(Value::Integer(to_i64(version_id)?));
    let mut paragraphs: Vec<Paragraph> = query::<D>(
        "SELECT start_ms, end_ms, speaker FROM paragraphs WHERE version_id = ?1 ORDER BY seq",
        vec![version()?],
    )?
    .iter()
    .map(|row| Ok(Paragraph { sentences: Vec::new(), start_ms: row.u64(0)?, end_ms: row.u64(1)?, speaker: row.opt_u32(2)? }))
    .collect::<Result<_>>()?;
    for row in &query::<D>(
        "SELECT paragraph, text, start_ms, end_ms FROM sentences WHERE version_id = ?1 ORDER BY paragraph, seq",
        vec![version()?],
    )? {
        let index = row.u64(0)? as usize;
        let sentence = Sentence { text: row.text(1)?, start_ms: row.u64(2)?, end_ms: row.u64(3)? };
        if let Some(paragraph) = paragraphs.get_mut(index) {
            paragraph.sentences.push(sentence);
        }
    }
    let utterances = query::<D>(
        "SELECT text, start_ms, end_ms, confidence, speaker FROM utterances WHERE version_id = ?1 ORDER BY seq",
        vec![version()?],
    )?
    .iter()
    .map(|row| {
        Ok(Utterance {
            text: row.text(0)?,
            start_ms: row.u64(1)?,
            end_ms: row.u64(2)?,
            confidence: row.real(3)? as f32,
            speaker: row.opt_u32(4)?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(TranscriptStructure { paragraphs, utterances })
}
