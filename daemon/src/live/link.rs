//! The reliable link to a live speech-to-text plugin, written once for every provider.
//!
//! The plugin only translates between our calls and its provider's protocol. The link
//! keeps every frame that no final result covers yet; when the plugin reports its
//! connection lost (or traps), it reconnects with exponential back-off and jitter, replays
//! those frames, and lets the [`Timeline`] map the new connection's times and drop repeated
//! finals. Audio is sent no faster than the provider accepts. After a long outage, or when
//! the provider refuses for good (bad key), the link goes offline: the session keeps
//! recording and is transcribed from the file later.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::frames::{Feed, Frame};
use super::timeline::Timeline;
use crate::retry::Failure;
use crate::sinks::events::LiveStatus;
use crate::clients::stt::{LiveConfig, LiveOutcome, LiveStt, SocketEvent, TranscriptUpdate};

/// How often the plugin's `tick` runs (its contract says about once a second).
const TICK: Duration = Duration::from_secs(1);

/// Audio that may go out at once above the speed limit, ms: a replay starts without delay.
const BURST_MS: u64 = 1_000;
/// Most audio kept for replay, ms; a longer backlog means live transcription cannot keep up
/// and the file is transcribed afterwards instead.
const MAX_PENDING_MS: u64 = 15 * 60 * 1000;
/// Longest wait, after a send failed, for the messages the provider sent before the
/// connection broke (they are queued ahead of the close): results not lost are not replayed.
const DRAIN_ON_FAILURE: Duration = Duration::from_secs(1);
/// A connection that got no audio this long after opening gets the latest frame, even if
/// silent: providers close connections that never receive audio.
const PRIME_AFTER: Duration = Duration::from_secs(1);

/// Reliability settings, from `[live]`.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
    pub max_outage: Duration,
    pub speed_limit: f64,
    pub finish_timeout: Duration,
}

/// What the link reports to its session.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// Words on the session's clock.
    Update(TranscriptUpdate),
    /// Final words on the session's clock that answer [`Feed::Finalize`].
    Finalized(TranscriptUpdate),
    /// The provider connection changed: `connected`, `reconnecting` or `offline`.
    State { status: LiveStatus, message: Option<String> },
}

#[derive(Debug)]
enum State {
    Connected { since: Instant, sent_ms: u64 },
    Reconnecting { since: Instant, attempt: u32, next: Instant, reason: String },
    Offline,
}

/// What the link does after a failed call.
enum Reaction {
    /// Reconnect: the failure may pass.
    Reconnect(String),
    /// Go offline: it will not get better (the provider refused the credentials or the audio).
    Offline(String),
}

/// Milliseconds on the daemon's monotonic clock, for plugin ticks.
pub fn monotonic_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Exponential back-off with ±50 % jitter, so many sessions do not reconnect in step.
fn backoff(settings: &LinkSettings, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
    crate::retry::jitter(settings.reconnect_base.saturating_mul(factor).min(settings.reconnect_max))
}

/// The link.
pub struct Link {
    stt: LiveStt,
    config: LiveConfig,
    settings: LinkSettings,
    timeline: Timeline,
    /// Frames to send that no final covers yet, oldest first.
    pending: VecDeque<Frame>,
    /// `pending[..cursor]` went out on the current connection.
    cursor: usize,
    /// The newest frame seen, sent to prime a connection that got no audio.
    latest: Option<Frame>,
    state: State,
    events: Vec<LinkEvent>,
    /// The first failure of the current call, acted on by [`Link::settle`].
    failure: Option<Reaction>,
}

impl Link {
    pub fn new(stt: LiveStt, config: LiveConfig, settings: LinkSettings) -> Link {
        let now = Instant::now();
        Link {
            stt,
            config,
            settings,
            timeline: Timeline::default(),
            pending: VecDeque::new(),
            cursor: 0,
            latest: None,
            state: State::Reconnecting { since: now, attempt: 0, next: now, reason: String::new() },
            events: Vec::new(),
            failure: None,
        }
    }

    pub fn provider(&self) -> &str {
        self.stt.id()
    }

    /// Whether the provider gave up for this session.
    pub fn is_offline(&self) -> bool {
        matches!(self.state, State::Offline)
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<LinkEvent> {
        std::mem::take(&mut self.events)
    }

    /// Opens the first connection.
    pub async fn open(&mut self) {
        self.connect().await;
        self.settle().await;
    }

    /// A frame of the session: `send` when the gate lets it through.
    pub fn push(&mut self, frame: Frame, send: bool) {
        if send && !self.is_offline() {
            self.pending.push_back(frame.clone());
            let backlog = self.pending.back().map_or(0, Frame::end_ms) - self.pending.front().map_or(0, |f| f.start_ms);
            if backlog > MAX_PENDING_MS {
                self.go_offline(format!(
                    "live transcription fell {} s behind the audio",
                    backlog / 1000
                ));
            }
        }
        self.latest = Some(frame);
    }

    /// A client asked for its words so far to be made final. stt-live 0.1.0 has no call
    /// that makes a provider flush, so the answer is an empty final at once; the words come
    /// as the provider makes them final.
    pub fn finalize(&mut self) {
        let at = self.latest.as_ref().map_or(0, Frame::end_ms);
        self.events.push(LinkEvent::Finalized(TranscriptUpdate { words: Vec::new(), is_final: true, speech_final: false, start_ms: at, end_ms: at }));
    }

    /// When [`Link::wake`] has work: a reconnect attempt or paced frames.
    pub fn next_wake(&self) -> Option<Instant> {
        match &self.state {
            State::Reconnecting { next, .. } => Some(*next),
            State::Connected { since, sent_ms } if self.cursor < self.pending.len() => {
                let allowed = sent_ms.saturating_sub(BURST_MS) as f64 / self.settings.speed_limit;
                Some(*since + Duration::from_millis(allowed as u64))
            }
            _ => None,
        }
    }

    /// Reconnects when due and sends what the speed limit allows.
    pub async fn wake(&mut self) {
        if let State::Reconnecting { next, .. } = &self.state
            && Instant::now() >= *next
        {
            self.connect().await;
            self.settle().await;
        }
        self.pump().await;
    }

    /// The next event of the plugin's sockets (cancel-safe).
    pub async fn socket_event(&mut self) -> (u64, SocketEvent) {
        self.stt.socket_event().await
    }

    pub async fn deliver(&mut self, socket: u64, event: SocketEvent) {
        let outcome = self.stt.deliver(socket, event).await;
        self.handle(outcome);
        self.settle().await;
    }

    /// The periodic tick: keep-alives in the plugin, priming an idle new connection.
    pub async fn tick(&mut self) {
        if let State::Connected { since, sent_ms: 0 } = self.state
            && since.elapsed() >= PRIME_AFTER
            && self.cursor == self.pending.len()
            && let Some(frame) = self.latest.clone()
        {
            self.send(&frame).await;
        }
        if matches!(self.state, State::Connected { .. }) {
            let outcome = self.stt.tick(monotonic_ms()).await;
            self.handle(outcome);
        }
        self.settle().await;
    }

    /// The session stopped: sends what is left (paced), asks the plugin to finish and
    /// delivers its last messages until its sockets close. A connection lost on the way is
    /// reconnected and the rest replayed, all within the finish timeout plus the time the
    /// backlog takes at the speed limit. True when the provider finished cleanly with every
    /// frame.
    pub async fn finish(&mut self) -> bool {
        let backlog = Duration::from_millis(self.unsent_ms(self.cursor)).div_f64(self.settings.speed_limit);
        let deadline = Instant::now() + self.settings.finish_timeout + backlog;
        loop {
            while !self.is_offline() && (self.cursor < self.pending.len() || !self.is_connected()) {
                if self.pending.is_empty() && !self.is_connected() {
                    // Everything is final already; no connection is needed.
                    return true;
                }
                let Some(at) = self.next_wake() else { break };
                if at >= deadline {
                    return false;
                }
                tokio::time::sleep_until(at.into()).await;
                self.wake().await;
            }
            if !self.is_connected() {
                return false;
            }
            let outcome = self.stt.finish().await;
            self.handle(outcome);
            self.settle().await;
            while self.stt.sockets_busy() && self.is_connected() {
                let event = tokio::select! {
                    event = self.stt.socket_event() => event,
                    () = tokio::time::sleep_until(deadline.into()) => {
                        tracing::warn!(plugin = self.stt.id(), "no end of stream within {:?} of stop", self.settings.finish_timeout);
                        return false;
                    }
                };
                let outcome = self.stt.deliver(event.0, event.1).await;
                self.handle(outcome);
                self.settle().await;
            }
            if self.is_connected() {
                self.stt.reset();
                return true;
            }
            // Lost while finishing: reconnect, replay what is not final, finish again.
        }
    }

    fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    async fn connect(&mut self) {
        let outcome = self.stt.start(self.config.clone()).await;
        let failed = !matches!(outcome, Ok(Ok(_)));
        let (reconnected, replay_ms) = match &self.state {
            State::Reconnecting { reason, .. } => (!reason.is_empty(), self.unsent_ms(0)),
            _ => (false, 0),
        };
        if !failed {
            self.state = State::Connected { since: Instant::now(), sent_ms: 0 };
            self.timeline.new_connection();
            self.cursor = 0;
            let message = reconnected.then(|| format!("reconnected; replaying {:.1} s of audio", replay_ms as f64 / 1000.0));
            self.events.push(LinkEvent::State { status: LiveStatus::Connected, message });
        }
        self.handle(outcome);
    }

    /// Audio in `pending[from..]`, ms.
    fn unsent_ms(&self, from: usize) -> u64 {
        self.pending.iter().skip(from).map(Frame::duration_ms).sum()
    }

    async fn pump(&mut self) {
        while let State::Connected { since, sent_ms } = self.state
            && self.cursor < self.pending.len()
        {
            let allowed = (since.elapsed().as_millis() as f64 * self.settings.speed_limit) as u64 + BURST_MS;
            if sent_ms >= allowed {
                break;
            }
            let frame = self.pending[self.cursor].clone();
            if self.send(&frame).await {
                self.cursor += 1;
            }
            self.settle().await;
        }
    }

    /// Sends one frame; true when it went out.
    async fn send(&mut self, frame: &Frame) -> bool {
        let outcome = self.stt.push(frame.bytes()).await;
        let sent = matches!(outcome, Ok(Ok(_)));
        if sent {
            self.timeline.sent(frame.start_ms, frame.duration_ms());
            if let State::Connected { sent_ms, .. } = &mut self.state {
                *sent_ms += frame.duration_ms();
            }
        }
        self.handle(outcome);
        sent
    }

    fn handle(&mut self, outcome: LiveOutcome) {
        let failure = match outcome {
            Ok(Ok(updates)) => {
                for update in updates {
                    let mapped = self.timeline.map(update);
                    self.events.push(LinkEvent::Update(mapped));
                }
                self.trim();
                return;
            }
            Ok(Err(err)) => match Failure::classify(err, self.stt.id()) {
                Failure::Retry { message, .. } => Reaction::Reconnect(message),
                fatal => Reaction::Offline(fatal.into_message()),
            },
            // A trap discarded the instance; a fresh one reconnects.
            Err(call) => {
                self.stt.reset();
                Reaction::Reconnect(call.to_string())
            }
        };
        // The first failure explains the call; later ones (the close that follows a failed
        // send) add nothing.
        self.failure.get_or_insert(failure);
    }

    /// Acts on a failure of the last call: first delivers what the provider sent before the
    /// connection broke, then reconnects or goes offline.
    async fn settle(&mut self) {
        let Some(mut failure) = self.failure.take() else { return };
        if let Reaction::Reconnect(_) = failure {
            let deadline = Instant::now() + DRAIN_ON_FAILURE;
            while self.stt.sockets_busy() {
                let (socket, event) = tokio::select! {
                    event = self.stt.socket_event() => event,
                    () = tokio::time::sleep_until(deadline.into()) => break,
                };
                let outcome = self.stt.deliver(socket, event).await;
                self.handle(outcome);
                // The connection is being replaced whatever the drain reports, unless the
                // provider refused for good.
                if let Some(fatal @ Reaction::Offline(_)) = self.failure.take() {
                    failure = fatal;
                }
            }
        }
        match failure {
            Reaction::Reconnect(reason) => self.retry(reason),
            Reaction::Offline(reason) => self.go_offline(reason),
        }
    }

    /// Drops frames every final covers.
    fn trim(&mut self) {
        let covered = self.timeline.covered_until();
        while self.pending.front().is_some_and(|f| f.end_ms() <= covered) {
            self.pending.pop_front();
            self.cursor = self.cursor.saturating_sub(1);
        }
    }

    fn retry(&mut self, reason: String) {
        let now = Instant::now();
        let (since, attempt) = match &self.state {
            State::Reconnecting { since, attempt, reason: previous, .. } if !previous.is_empty() => (*since, attempt + 1),
            State::Offline => return,
            _ => (now, 0),
        };
        if now.duration_since(since) >= self.settings.max_outage {
            self.go_offline(format!(
                "{} unreachable for {} s ({reason})",
                self.stt.id(),
                now.duration_since(since).as_secs()
            ));
            return;
        }
        let wait = backoff(&self.settings, attempt);
        tracing::warn!(plugin = self.stt.id(), attempt, ?wait, "live provider connection lost: {reason}");
        if attempt == 0 {
            self.events.push(LinkEvent::State { status: LiveStatus::Reconnecting, message: Some(reason.clone()) });
        }
        self.stt.reset();
        self.state = State::Reconnecting { since, attempt, next: now + wait, reason };
    }

    fn go_offline(&mut self, reason: String) {
        if self.is_offline() {
            return;
        }
        tracing::warn!(plugin = self.stt.id(), "live transcription stopped: {reason}; the recording continues");
        self.state = State::Offline;
        self.pending.clear();
        self.cursor = 0;
        self.stt.reset();
        let message = format!("{reason}; the recording continues and will be transcribed from the file when it stops");
        self.events.push(LinkEvent::State { status: LiveStatus::Offline, message: Some(message) });
    }
}

/// Runs a live plugin's link until the capture side is done, then finishes it.
pub async fn drive(mut link: Link, frames: &mut mpsc::UnboundedReceiver<Feed>, publish: &mut impl FnMut(Vec<LinkEvent>)) -> bool {
    link.open().await;
    publish(link.take_events());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wake = link.next_wake();
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Feed::Frame(frame, send)) => {
                    link.push(frame, send);
                    link.wake().await;
                }
                Some(Feed::Finalize) => link.finalize(),
                None => break,
            },
            (socket, event) = link.socket_event() => link.deliver(socket, event).await,
            _ = tick.tick() => link.tick().await,
            () = sleep_until(wake), if wake.is_some() => link.wake().await,
        }
        publish(link.take_events());
    }
    let complete = link.finish().await;
    publish(link.take_events());
    complete
}

/// Sleeps until `at`; never wakes without one (for a `select!` arm with a due time).
pub(super) async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
