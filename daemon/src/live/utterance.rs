//! A short utterance (a voice command from the Wyoming server) transcribed by the live
//! role's recogniser outside the library: samples in, final words out as they are made; no
//! session and no recording. The same link or local policy a live session runs, fed every
//! frame.

use tokio::sync::mpsc;

use super::frames::{Feed, Framer};
use super::link::LinkEvent;
use super::session::Transcriber;
use super::{LiveError, LiveSessions};
use crate::sinks::export::SessionExport;

/// What the recogniser made of the utterance so far.
#[derive(Debug)]
pub enum Heard {
    /// Words made final, in order, as displayed.
    Final(String),
    /// The recogniser is done; `complete` when every word was made final.
    Ended { complete: bool },
}

/// One utterance being transcribed.
pub struct Utterance {
    framer: Framer,
    frames: Option<mpsc::UnboundedSender<Feed>>,
    /// The recogniser's words, then [`Heard::Ended`].
    pub heard: mpsc::UnboundedReceiver<Heard>,
}

impl Utterance {
    /// More audio, 16 kHz mono.
    pub fn push(&mut self, samples: &[i16]) {
        let Some(frames) = &self.frames else { return };
        for frame in self.framer.push(samples) {
            let _ = frames.send(Feed::Frame(frame, true));
        }
    }

    /// The audio is over: the recogniser reads the rest and ends.
    pub fn finish(&mut self) {
        if let (Some(frames), Some(frame)) = (self.frames.take(), self.framer.flush()) {
            let _ = frames.send(Feed::Frame(frame, true));
        }
    }
}

impl LiveSessions {
    /// Starts transcribing an utterance with the live role's recogniser.
    pub fn utterance(&self, language: Option<String>) -> Result<Utterance, LiveError> {
        let (provider, _) = self.inner.provider.as_ref().ok_or(LiveError::NoProvider)?;
        let transcriber = self.transcriber(provider, language)?;
        let (frames_tx, mut frames) = mpsc::unbounded_channel();
        let (heard_tx, heard) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let finals = heard_tx.clone();
            let mut publish = |events: Vec<LinkEvent>| {
                for event in events {
                    if let LinkEvent::Update(update) | LinkEvent::Finalized(update) = event
                        && update.is_final
                        && !update.words.is_empty()
                    {
                        let _ = finals.send(Heard::Final(SessionExport::displayed(&update.words)));
                    }
                }
            };
            let complete = match transcriber {
                Transcriber::Link(link) => super::link::drive(*link, &mut frames, &mut publish).await,
                Transcriber::Local(local) => super::local::drive(*local, &mut frames, &mut publish).await,
            };
            let _ = heard_tx.send(Heard::Ended { complete });
        });
        Ok(Utterance { framer: Framer::new(self.inner.settings.frame_ms), frames: Some(frames_tx), heard })
    }
}
