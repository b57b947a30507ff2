//! A whole recording to timed segments and words, as openai-whisper's `transcribe` does it:
//! 30 s windows, each decoded with timestamps; the next window starts where the last complete
//! segment (or word) ended, so no word is cut at a fixed boundary. Windows without speech are
//! skipped twice over: by their energy before any inference, and by the model's no-speech
//! probability after it, so silence never turns into invented text.

use serde::Deserialize;

use crate::align::{self, WordTiming};
use crate::ct2::{Model as Ct2Model, ModelError};
use crate::decode::{self, Attempt, Rules, XorShift};
use crate::mel::{HOP, MelSpectrogram, SAMPLE_RATE};
use crate::model::{DecoderState, Precision, Whisper};
use crate::vocab::Vocabulary;

/// Mel frames per second.
const FRAMES_PER_SECOND: f32 = (SAMPLE_RATE / HOP) as f32;
/// Length of one window, seconds: the model's fixed input.
const WINDOW_SECONDS: usize = 30;
/// Length of one timestamp step, seconds.
const TIMESTAMP_STEP: f32 = 0.02;
/// Temperatures tried in turn while a window's result looks like a loop or like noise
/// (openai's defaults).
const TEMPERATURES: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// Temperatures a short context is read at while it loops: greedy, then two sampled tries
/// on the same encoded audio. Live audio is read again within a second; encoding a whole
/// window instead costs more than ten short readings (3–4 s of a 1.5 s buffer in the sandbox).
const TRIMMED_TEMPERATURES: usize = 3;
/// A decoded text compressing better than this is repeating itself.
const COMPRESSION_RATIO_THRESHOLD: f32 = 2.4;
/// Below this mean token log-probability the result is a guess.
const LOGPROB_THRESHOLD: f32 = -1.0;
/// Above this no-speech probability (with a guessed result) the window is silence.
const NO_SPEECH_THRESHOLD: f32 = 0.6;
/// Loudness gate: a window whose loudest 20 ms stays under this RMS (about -50 dBFS, below
/// a quiet room's noise floor on most microphones) is not decoded at all.
const SILENCE_RMS: f32 = 0.003;
/// Samples per loudness measurement (20 ms).
const GATE_FRAME: usize = SAMPLE_RATE / 50;
/// Tails shorter than this (10 frames, 0.1 s) hold no word and are not decoded.
const MIN_WINDOW_FRAMES: usize = 10;
/// Vocabulary size from which a Whisper model is multilingual (English-only ones have 51864).
const MULTILINGUAL_VOCAB: usize = 51_865;
/// Tokens a window may hold per second of its audio, on top of [`MIN_WINDOW_TOKENS`]. Fast
/// speech is about five tokens a second with its timestamps; twice that leaves room, and a
/// decoder stuck in a loop on a short clip stops after a few dozen steps instead of 224.
const TOKENS_PER_SECOND: f32 = 10.0;
const MIN_WINDOW_TOKENS: usize = 16;
/// Silence after the audio, in mel frames (5 s), when the encoder reads only the audio present:
/// the model learnt from windows padded with silence, and seeing enough of it tells it where
/// the speech ends. With 1 s, short utterances ("Ever failed.", 1.5 s) sent the decoder
/// round them again and again, and live text lost half of beckett.wav; with 5 s none did,
/// for readings about 0.35 s dearer.
const TRIM_PAD_FRAMES: usize = 500;
/// Most tokens of previous text read before a window: half the decoder's context, less
/// `<|startofprev|>` (openai's limit), leaves the other half for the transcript.
const MAX_PREVIOUS_TOKENS: usize = 223;
/// Seed of the sampler used by temperature fallback: fixed, so results are reproducible.
const SEED: u64 = 0x5eed_5c1b_e000_0001;

/// What a recording is decoded into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Task {
    /// The words as spoken.
    #[default]
    Transcribe,
    /// The speech in English (`<|translate|>`; multilingual models only).
    Translate,
}

/// Why a transcription failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TranscribeError {
    /// The request cannot be served by this model (a language it does not know, a
    /// translation asked of an English-only model).
    Language(String),
    /// The audio could not be read.
    Audio(String),
    /// The model failed on the audio.
    Inference(String),
}

impl std::fmt::Display for TranscribeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranscribeError::Language(m) | TranscribeError::Audio(m) | TranscribeError::Inference(m) => f.write_str(m),
        }
    }
}

/// The audio to transcribe: 16 kHz mono samples in -1..1, read in pieces.
pub trait Samples {
    /// Number of samples.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `count` samples from `start` (fewer at the end).
    fn read(&mut self, start: usize, count: usize) -> Result<Vec<f32>, String>;
}

/// A model's `config.json` (CTranslate2's Whisper converter writes it).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    /// `(decoder layer, head)` pairs whose cross-attention follows the speech.
    #[serde(default)]
    pub alignment_heads: Vec<(usize, usize)>,
    #[serde(default)]
    pub lang_ids: Vec<u32>,
    #[serde(default)]
    pub suppress_ids: Vec<u32>,
    #[serde(default)]
    pub suppress_ids_begin: Vec<u32>,
}

/// One stretch of speech between two timestamps.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Seconds from the start of the audio.
    pub start: f32,
    pub end: f32,
    pub text: String,
    /// Its words, seconds from the start of the audio; merged punctuation leaves no entries.
    pub words: Vec<WordTiming>,
    pub avg_logprob: f32,
    tokens: Vec<u32>,
}

/// A finished transcript.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub segments: Vec<Segment>,
    /// The language spoken, as the model's language token names it (`en`).
    pub language: Option<String>,
    /// Length of the audio, seconds.
    pub duration: f32,
    /// Decoder steps run, fallbacks included: the work the transcript cost.
    pub decoder_steps: usize,
}

/// A loaded model, ready to transcribe any number of recordings.
pub struct Engine {
    model: Whisper,
    vocab: Vocabulary,
    config: ModelConfig,
    mel: MelSpectrogram,
    rules: Rules,
    context: EncoderContext,
}

/// How much of a window the encoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderContext {
    /// The whole 30 s window, the audio padded with silence, as the model was trained.
    #[default]
    Window,
    /// The audio present and [`TRIM_PAD_FRAMES`] of silence (whisper.cpp's `audio_ctx`):
    /// a 3 s buffer costs the encoder about a seventh of a window, which is what lets a live
    /// buffer be read again every second.
    Audio,
}

impl EncoderContext {
    /// The plugins' `encoder_context` setting: `window` or `audio`, `default` when unset.
    pub fn from_setting(value: Option<&str>, default: EncoderContext) -> Result<EncoderContext, String> {
        match value.map(str::trim) {
            None => Ok(default),
            Some("window") => Ok(EncoderContext::Window),
            Some("audio") => Ok(EncoderContext::Audio),
            Some(other) => Err(format!("the setting encoder_context = {other:?} is not one of \"window\" or \"audio\"")),
        }
    }
}

/// The model's files, read by the caller; names are used in errors.
pub struct ModelFiles<'a> {
    pub model_bin: (&'a str, &'a [u8]),
    pub config_json: (&'a str, &'a [u8]),
    /// `vocabulary.txt` (one token per line) or `vocabulary.json` (a list of tokens).
    pub vocabulary: (&'a str, &'a [u8]),
}

fn file_error(file: &str, message: impl std::fmt::Display) -> ModelError {
    ModelError { file: file.to_string(), message: message.to_string() }
}

/// Of attempts that all failed (each with whether it loops), the one to keep: the likeliest
/// that does not loop, else the likeliest of all.
fn likeliest(failed: Vec<(Attempt, bool)>) -> Option<Attempt> {
    let any_unlooped = failed.iter().any(|(_, looping)| !looping);
    failed
        .into_iter()
        .filter(|(_, looping)| !looping || !any_unlooped)
        .map(|(attempt, _)| attempt)
        .max_by(|a, b| a.avg_logprob.total_cmp(&b.avg_logprob))
}

fn tensor_error(err: candle_core::Error) -> TranscribeError {
    TranscribeError::Inference(format!("inference failed: {err}"))
}

impl Engine {
    /// Loads a CTranslate2 model, its linear layers held at `precision`.
    pub fn load(files: ModelFiles<'_>, precision: Precision) -> Result<Engine, ModelError> {
        let (config_name, config_bytes) = files.config_json;
        let config: ModelConfig = serde_json::from_slice(config_bytes).map_err(|err| file_error(config_name, format!("not a Whisper model configuration: {err}")))?;
        let (vocab_name, vocab_bytes) = files.vocabulary;
        let vocab_text = std::str::from_utf8(vocab_bytes).map_err(|_| file_error(vocab_name, "not UTF-8 text"))?;
        let vocab_lines = if vocab_name.ends_with(".json") {
            let tokens: Vec<String> = serde_json::from_str(vocab_text).map_err(|err| file_error(vocab_name, format!("not a list of tokens: {err}")))?;
            tokens.join("\n")
        } else {
            vocab_text.to_string()
        };
        let vocab = Vocabulary::parse(vocab_name, &vocab_lines).map_err(|message| ModelError { file: vocab_name.into(), message })?;
        let (model_name, model_bytes) = files.model_bin;
        let model = Whisper::load(model_name, &Ct2Model::parse(model_name, model_bytes)?, precision)?;
        Engine::new(model, (vocab_name, vocab), (config_name, config))
    }

    /// An engine from a built network, its vocabulary and its decoding configuration (each
    /// with the file it came from, for errors), checked against each other.
    pub fn new(model: Whisper, (vocab_name, vocab): (&str, Vocabulary), (config_name, config): (&str, ModelConfig)) -> Result<Engine, ModelError> {
        if model.dims.vocab > vocab.len() {
            return Err(file_error(vocab_name, format!("has {} tokens but the model has {}; the files are from different models", vocab.len(), model.dims.vocab)));
        }
        if let Some(&(layer, head)) = config.alignment_heads.iter().find(|&&(l, h)| l >= model.dims.decoder_layers || h >= model.dims.heads) {
            return Err(file_error(config_name, format!("alignment head ({layer}, {head}) is not in the model")));
        }
        let s = vocab.specials();
        let rules = Rules {
            suppress: config.suppress_ids.clone(),
            suppress_begin: config.suppress_ids_begin.clone(),
            end_of_text: s.end_of_text,
            no_timestamps: s.no_timestamps,
            timestamp_begin: s.timestamp_begin,
            no_speech: s.no_speech,
            sample_len: model.dims.text_ctx / 2,
        };
        let mel = MelSpectrogram::new(model.dims.n_mels);
        Ok(Engine { model, vocab, config, mel, rules, context: EncoderContext::Window })
    }

    /// The engine reading windows as `context` says.
    pub fn with_encoder_context(mut self, context: EncoderContext) -> Engine {
        self.context = context;
        self
    }

    pub fn multilingual(&self) -> bool {
        self.model.dims.vocab >= MULTILINGUAL_VOCAB
    }

    /// Transcribes `audio`. `language` is a tag such as `en` or `de-AT`; a multilingual model
    /// detects the language when it is none. `progress` hears how many samples are done.
    pub fn transcribe(&self, audio: &mut dyn Samples, language: Option<&str>, progress: &mut dyn FnMut(usize)) -> Result<Transcript, TranscribeError> {
        self.transcribe_after(audio, language, &[], Task::Transcribe, progress)
    }

    /// [`Engine::transcribe`], knowing what was said before the audio: `previous` are its
    /// text tokens ([`crate::bpe`]). As openai's `initial_prompt` without conditioning on
    /// earlier windows, they are read before the first window only, at most the last
    /// [`MAX_PREVIOUS_TOKENS`]. `task` translates into English instead; the transcript's
    /// language is still the one spoken.
    pub fn transcribe_after(
        &self,
        audio: &mut dyn Samples,
        language: Option<&str>,
        previous: &[u32],
        task: Task,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Transcript, TranscribeError> {
        let task_token = match task {
            Task::Transcribe => None,
            Task::Translate => Some(self.vocab.specials().translate.filter(|_| self.multilingual()).ok_or_else(|| {
                TranscribeError::Language("this model understands English only and cannot translate; install a multilingual model (such as base)".to_string())
            })?),
        };
        let mut previous = match (self.vocab.specials().start_of_prev, previous.len()) {
            (Some(start), 1..) => [&[start], &previous[previous.len().saturating_sub(MAX_PREVIOUS_TOKENS)..]].concat(),
            _ => Vec::new(),
        };
        let total = audio.len();
        let content_frames = total / HOP;
        let window_frames = WINDOW_SECONDS * SAMPLE_RATE / HOP;
        let mut language = self.language_token(language)?;
        let mut segments: Vec<Segment> = Vec::new();
        let mut rng = XorShift::new(SEED);
        let mut seek = 0usize;
        let mut decoder_steps = 0;
        while seek + MIN_WINDOW_FRAMES <= content_frames {
            let size = window_frames.min(content_frames - seek);
            let mut samples = audio.read(seek * HOP, size * HOP).map_err(TranscribeError::Audio)?;
            progress(seek * HOP);
            if loudest_rms(&samples) < SILENCE_RMS {
                seek += size;
                continue;
            }
            let trimmed = self.context == EncoderContext::Audio;
            let encoded_frames = match trimmed {
                false => window_frames,
                // Even: the encoder's second convolution halves the frames.
                true => (size + TRIM_PAD_FRAMES).min(window_frames).next_multiple_of(2),
            };
            let state = self.encode(&mut samples, encoded_frames)?;
            if self.multilingual() && language.is_none() {
                language = Some(self.detect_language(&state)?);
            }
            let sot = self.sot_sequence(language, task_token);
            let max_tokens = MIN_WINDOW_TOKENS + (size as f32 / FRAMES_PER_SECOND * TOKENS_PER_SECOND).ceil() as usize;
            let (attempt, steps) = match trimmed {
                true => self.decode_short(&state, &previous, &sot, max_tokens, &mut rng)?,
                false => self.decode_with_fallback(&state, &previous, &sot, max_tokens, &mut rng)?,
            };
            decoder_steps += steps;
            previous.clear();
            if attempt.no_speech_prob > NO_SPEECH_THRESHOLD && attempt.avg_logprob < LOGPROB_THRESHOLD {
                seek += size;
                continue;
            }
            let offset = seek as f32 / FRAMES_PER_SECOND;
            // The last window holds the end of the audio: there is nothing later to resume
            // with, so its unfinished segment is kept as it is. Resuming there instead
            // re-decoded ever shorter tails of a short clip without end.
            let last_window = seek + size >= content_frames;
            let (mut window_segments, advance) = self.split_segments(&attempt, offset, size, last_window);
            self.add_words(&state, &sot, &mut window_segments, size, offset)?;
            let mut next = seek + advance;
            if advance < size {
                // The window ended mid-segment: resume after the last word heard whole.
                if let Some(end) = window_segments.iter().flat_map(|s| s.words.last()).map(|w| w.end).next_back() {
                    let at_word = (end * FRAMES_PER_SECOND).round() as usize;
                    if at_word > seek {
                        next = at_word;
                    }
                }
            }
            segments.extend(window_segments.into_iter().filter(|s| !s.text.trim().is_empty()));
            seek = next.max(seek + 1);
        }
        progress(total);
        let language = language.map(|id| self.vocab.token(id).unwrap_or_default().trim_matches(['<', '|', '>']).to_string());
        let language = language.or_else(|| (!self.multilingual()).then(|| "en".to_string()));
        Ok(Transcript { segments, language, duration: total as f32 / SAMPLE_RATE as f32, decoder_steps })
    }

    /// The language token for a requested tag; none to detect (multilingual models only).
    fn language_token(&self, tag: Option<&str>) -> Result<Option<u32>, TranscribeError> {
        let Some(tag) = tag else { return Ok(None) };
        let primary = tag.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        if !self.multilingual() {
            return if primary == "en" {
                Ok(None)
            } else {
                Err(TranscribeError::Language(format!("this model understands English only, not {tag:?}; install a multilingual model")))
            };
        }
        self.vocab
            .id(&format!("<|{primary}|>"))
            .filter(|id| self.config.lang_ids.is_empty() || self.config.lang_ids.contains(id))
            .map(Some)
            .ok_or_else(|| TranscribeError::Language(format!("the model does not know the language {tag:?}")))
    }

    fn detect_language(&self, state: &DecoderState) -> Result<u32, TranscribeError> {
        let mut fresh = self.model.restart(state);
        let logits = self.model.step(&mut fresh, &[self.vocab.specials().start_of_transcript]).map_err(tensor_error)?;
        self.config
            .lang_ids
            .iter()
            .copied()
            .filter(|&id| (id as usize) < logits.len())
            .max_by(|&a, &b| logits[a as usize].total_cmp(&logits[b as usize]))
            .ok_or_else(|| TranscribeError::Inference("the model's configuration lists no languages".to_string()))
    }

    /// The prompt that starts a window: the language and the task (`translate`, else
    /// `transcribe`) on a multilingual model.
    fn sot_sequence(&self, language: Option<u32>, translate: Option<u32>) -> Vec<u32> {
        let s = self.vocab.specials();
        let mut sot = vec![s.start_of_transcript];
        if self.multilingual() {
            sot.extend(language);
            sot.extend(translate.or(s.transcribe));
        }
        sot
    }

    /// Decodes a window, at higher temperatures while the result loops or is a guess. When
    /// every attempt fails, the likeliest one that does not loop is kept (else the likeliest
    /// of all), as faster-whisper keeps it: the last, most random attempt was kept before,
    /// and it turned a translation the greedy pass had nearly right into noise. Returns the
    /// attempt kept and the decoder steps all attempts ran.
    fn decode_with_fallback(
        &self,
        state: &DecoderState,
        previous: &[u32],
        sot: &[u32],
        max_tokens: usize,
        rng: &mut XorShift,
    ) -> Result<(Attempt, usize), TranscribeError> {
        let mut failed: Vec<(Attempt, bool)> = Vec::new();
        let mut steps = 0;
        for temperature in TEMPERATURES {
            let attempt = decode::decode_window(&self.model, state, previous, sot, &self.rules, temperature, max_tokens, rng).map_err(tensor_error)?;
            steps += attempt.steps;
            let looping = self.looping(&attempt);
            if !(looping || attempt.avg_logprob < LOGPROB_THRESHOLD) || attempt.no_speech_prob > NO_SPEECH_THRESHOLD {
                return Ok((attempt, steps));
            }
            failed.push((attempt, looping));
        }
        let best = likeliest(failed).ok_or_else(|| TranscribeError::Inference("no decoding attempt".to_string()))?;
        Ok((best, steps))
    }

    /// Decodes a short context, sampled while it loops (a repeated phrase near the end of
    /// the audio can send it round). Only a loop counts: repetitive speech compresses well
    /// without looping, and a word cut off at the end of a live buffer makes a guess that the
    /// next reading, with more audio, sets right. When every try loops, the greedy one is
    /// kept, cut after the loop's first copy.
    fn decode_short(&self, state: &DecoderState, previous: &[u32], sot: &[u32], max_tokens: usize, rng: &mut XorShift) -> Result<(Attempt, usize), TranscribeError> {
        let mut kept: Option<Attempt> = None;
        let mut steps = 0;
        for &temperature in &TEMPERATURES[..TRIMMED_TEMPERATURES] {
            let attempt = decode::decode_window(&self.model, state, previous, sot, &self.rules, temperature, max_tokens, rng).map_err(tensor_error)?;
            steps += attempt.steps;
            if !attempt.looped {
                return Ok((attempt, steps));
            }
            kept.get_or_insert(attempt);
        }
        let kept = kept.ok_or_else(|| TranscribeError::Inference("no decoding attempt".to_string()))?;
        Ok((kept, steps))
    }

    /// Whether an attempt goes round: a loop the decoder caught, or text that compresses
    /// like one.
    fn looping(&self, attempt: &Attempt) -> bool {
        attempt.looped || decode::compression_ratio(&self.vocab.decode(&attempt.tokens)) > COMPRESSION_RATIO_THRESHOLD
    }

    /// Encodes `samples` (one window's audio) padded with silence to `frames` mel frames,
    /// and starts a decoder on it.
    fn encode(&self, samples: &mut Vec<f32>, frames: usize) -> Result<DecoderState, TranscribeError> {
        samples.resize(frames * HOP, 0.0);
        let (mel, _) = self.mel.compute(samples);
        let encoded = self.model.encode(&mel).map_err(tensor_error)?;
        self.model.start(&encoded).map_err(tensor_error)
    }

    /// Splits a window's tokens at timestamp pairs into segments (times offset by `offset`
    /// seconds) and says how many frames of the window they cover. In the final window an
    /// unfinished segment is kept, ending where the audio ends (`final_window`).
    fn split_segments(&self, attempt: &Attempt, offset: f32, size: usize, final_window: bool) -> (Vec<Segment>, usize) {
        let ts = self.rules.timestamp_begin;
        let tokens = &attempt.tokens;
        let is_ts: Vec<bool> = tokens.iter().map(|&t| t >= ts).collect();
        let single_ending = is_ts.len() >= 2 && !is_ts[is_ts.len() - 2] && is_ts[is_ts.len() - 1];
        let consecutive: Vec<usize> = (1..tokens.len()).filter(|&i| is_ts[i - 1] && is_ts[i]).collect();
        let segment = |slice: &[u32], start: f32, end: f32| Segment {
            start,
            end,
            text: self.vocab.decode(slice),
            words: Vec::new(),
            avg_logprob: attempt.avg_logprob,
            tokens: slice.to_vec(),
        };
        let time = |t: u32| offset + (t - ts) as f32 * TIMESTAMP_STEP;
        if consecutive.is_empty() {
            let window_seconds = size as f32 / FRAMES_PER_SECOND;
            let end = match tokens.iter().rev().find(|&&t| t >= ts) {
                Some(&last) if last != ts => time(last),
                _ => offset + window_seconds,
            };
            return (vec![segment(tokens, offset, end)], size);
        }
        let mut slices = consecutive;
        if single_ending {
            slices.push(tokens.len());
        }
        let keep_tail = final_window && !single_ending && slices.last().is_some_and(|&cut| cut < tokens.len());
        let mut segments = Vec::new();
        let mut last = 0;
        for &cut in &slices {
            let slice = &tokens[last..cut];
            if let (Some(&first), Some(&end)) = (slice.first(), slice.last()) {
                segments.push(segment(slice, time(first.max(ts)), time(end.max(ts))));
            }
            last = cut;
        }
        if keep_tail {
            let window_end = offset + size as f32 / FRAMES_PER_SECOND;
            let tail = &tokens[last..];
            let start = tail.first().filter(|&&t| t >= ts).map_or(segments.last().map_or(offset, |s| s.end), |&t| time(t));
            segments.push(segment(tail, start, window_end.max(start)));
        }
        let advance = if single_ending || keep_tail {
            size
        } else {
            // Resume at the last closing timestamp: two frames per 20 ms step.
            let last_ts = tokens[last - 1].saturating_sub(ts) as usize;
            (last_ts * 2).min(size)
        };
        (segments, advance)
    }

    /// Gives each segment of the window starting at `window_start` seconds (`size` frames
    /// long) its words, timed by the alignment heads.
    fn add_words(&self, state: &DecoderState, sot: &[u32], segments: &mut [Segment], size: usize, window_start: f32) -> Result<(), TranscribeError> {
        let s = self.vocab.specials();
        let per_segment: Vec<Vec<u32>> = segments.iter().map(|seg| seg.tokens.iter().copied().filter(|&t| t < s.end_of_text).collect()).collect();
        let text_tokens: Vec<u32> = per_segment.concat();
        if text_tokens.is_empty() || self.config.alignment_heads.is_empty() {
            return Ok(());
        }
        let mut tokens = sot.to_vec();
        tokens.push(s.no_timestamps);
        tokens.extend(&text_tokens);
        tokens.push(s.end_of_text);
        let (logits, scores) = self.model.forward_all(state, &tokens, &self.config.alignment_heads).map_err(tensor_error)?;
        let frames = (size / 2).max(1);
        let rows = tokens.len();
        let heads = scores
            .iter()
            .map(|head| head.narrow(1, 0, frames)?.contiguous()?.flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(tensor_error)?;
        let matrix = align::attention_matrix(&heads, rows, frames);
        // Rows from the no-timestamps position to the last text token.
        let text_rows = &matrix[sot.len() * frames..(rows - 1) * frames];
        let probs = decode::token_probabilities(&logits, sot.len(), &text_tokens, s.end_of_text).map_err(tensor_error)?;
        let timings = align::word_timings(&self.vocab, &text_tokens, text_rows, frames, &probs);
        let mut timings = timings.into_iter();
        for (segment, own) in segments.iter_mut().zip(&per_segment) {
            let mut counted = 0;
            while counted < own.len() {
                let Some(mut word) = timings.next() else { break };
                counted += word.tokens.len();
                if word.word.trim().is_empty() {
                    continue;
                }
                word.start += window_start;
                word.end += window_start;
                segment.words.push(word);
            }
            if let (Some(first), Some(last)) = (segment.words.first(), segment.words.last()) {
                segment.start = first.start;
                segment.end = last.end.max(first.start);
            }
        }
        Ok(())
    }
}

/// RMS of the loudest 20 ms of `samples`.
fn loudest_rms(samples: &[f32]) -> f32 {
    samples
        .chunks(GATE_FRAME)
        .map(|frame| (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt())
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{audio_file, fixture, model_dir, speech, speech_in, word_errors, words};

    struct InMemory(Vec<f32>);

    impl Samples for InMemory {
        fn len(&self) -> usize {
            self.0.len()
        }

        fn read(&mut self, start: usize, count: usize) -> Result<Vec<f32>, String> {
            let end = (start + count).min(self.0.len());
            Ok(self.0[start.min(end)..end].to_vec())
        }
    }

    fn engine() -> Engine {
        engine_in(&model_dir())
    }

    fn engine_in(dir: &std::path::Path) -> Engine {
        let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
        let (bin, config, vocab) = (read("model.bin"), read("config.json"), read("vocabulary.txt"));
        Engine::load(ModelFiles {
            model_bin: ("model.bin", &bin),
            config_json: ("config.json", &config),
            vocabulary: ("vocabulary.txt", &vocab),
        }, Precision::F32)
        .expect("loads")
    }

    /// About 45 s of espeak speech, so one sentence straddles the 30 s window boundary.
    const LONG: &str = "Our village library opens at nine every morning. \
        The librarian waters the plants, checks the returned books and unlocks the reading room. \
        Children arrive after school to borrow comics and adventure stories. \
        On Tuesdays a volunteer teaches older neighbours how to send messages to their grandchildren. \
        The building is warm in winter and cool in summer, and the chairs are comfortable. \
        Last year the town council repaired the roof and painted the windows green. \
        Everybody agrees that the library is the friendliest place in the valley. \
        When the sun sets the lights stay on until eight, and then the doors close for the night. \
        On Saturdays there is a market in the square outside, with bread, cheese and fresh apples. \
        The baker always saves a loaf for the librarian, who pays him with a new detective novel. \
        Nobody remembers who started this tradition, but it has lasted for more than twenty years.";

    #[test]
    fn a_long_recording_keeps_the_words_at_the_window_boundary_in_order_and_in_time() {
        let audio = speech(LONG);
        let seconds = audio.len() as f32 / SAMPLE_RATE as f32;
        assert!(seconds > 35.0, "the speech is long enough to need two windows: {seconds} s");
        let mut done = Vec::new();
        let transcript = engine().transcribe(&mut InMemory(audio), None, &mut |n| done.push(n)).expect("transcribes");
        let text: String = transcript.segments.iter().map(|s| s.text.as_str()).collect();
        let (reference, heard) = (words(LONG), words(&text));
        let (errors, dropped_run) = word_errors(&reference, &heard);
        // tiny.en on espeak's robotic voice, with "8" for "eight": about 20 %. The human clip
        // of the daemon tests holds the 10 % bar.
        assert!(errors * 100 <= reference.len() * 25, "WER {errors}/{}: {text}", reference.len());
        assert!(dropped_run <= 1, "{dropped_run} words in a row were lost: {text}");
        let timed: Vec<&WordTiming> = transcript.segments.iter().flat_map(|s| &s.words).collect();
        assert!(timed.len() * 10 >= heard.len() * 9, "words carry times: {} of {}", timed.len(), heard.len());
        for pair in timed.windows(2) {
            assert!(pair[0].start <= pair[1].start, "word starts are monotonic: {:?}", pair);
        }
        for w in &timed {
            assert!(0.0 <= w.start && w.start <= w.end && w.end <= seconds + 0.05, "{w:?} inside 0..{seconds}");
        }
        assert!(timed.iter().any(|w| w.start > 30.0), "words after the first window");
        assert_eq!(done.last(), Some(&transcript_len(seconds)));
        assert_eq!(transcript.language.as_deref(), Some("en"));
    }

    #[test]
    fn reading_only_the_audio_present_hears_a_short_buffer_as_the_whole_window_does() {
        let said = "Good morning everybody. Let us begin the meeting with the budget.";
        let audio = speech(said);
        let seconds = audio.len() as f32 / SAMPLE_RATE as f32;
        let read = |context| {
            let transcript = engine().with_encoder_context(context).transcribe(&mut InMemory(audio.clone()), None, &mut |_| {}).expect("transcribes");
            let text: String = transcript.segments.iter().map(|s| s.text.as_str()).collect();
            let timed: Vec<WordTiming> = transcript.segments.into_iter().flat_map(|s| s.words).collect();
            (text, timed)
        };
        let (window, _) = read(EncoderContext::Window);
        let (trimmed, timed) = read(EncoderContext::Audio);
        let (errors, dropped_run) = word_errors(&words(said), &words(&trimmed));
        eprintln!("window: {window:?}\ntrimmed: {trimmed:?}");
        assert!(errors <= word_errors(&words(said), &words(&window)).0 + 1, "trimmed {trimmed:?} against window {window:?}");
        assert!(dropped_run <= 1, "{trimmed}");
        assert!(!timed.is_empty() && timed.iter().all(|w| 0.0 <= w.start && w.start <= w.end && w.end <= seconds + 0.05), "{timed:?} inside 0..{seconds}");
        assert!(matches!(EncoderContext::from_setting(Some("frames"), EncoderContext::Window), Err(m) if m.contains("encoder_context")));
    }

    fn transcript_len(seconds: f32) -> usize {
        (seconds * SAMPLE_RATE as f32).round() as usize
    }

    #[test]
    fn a_clip_that_sent_the_decoder_into_a_loop_ends_within_its_token_bounds() {
        // espeak saying "The word is nickel. nickel." (1.79 s): greedy decoding looped, each
        // fallback ran 224 steps, and the final window was resumed again and again.
        let audio = audio_file(&fixture("audio/whisper-budget-nickel.wav"));
        let frames = audio.len() / HOP;
        let transcript = engine().transcribe(&mut InMemory(audio), None, &mut |_| {}).expect("transcribes");
        let text: String = transcript.segments.iter().map(|s| s.text.as_str()).collect();
        eprintln!("{} decoder steps: {text:?}", transcript.decoder_steps);
        assert!(!text.trim().is_empty(), "the speech gave text");
        // One window, six temperatures at most, each within the window's token cap (plus
        // the prompt's steps).
        let cap = MIN_WINDOW_TOKENS + (frames as f32 / FRAMES_PER_SECOND * TOKENS_PER_SECOND).ceil() as usize;
        let bound = TEMPERATURES.len() * (cap + 2);
        assert!(transcript.decoder_steps <= bound, "{} decoder steps, bound {bound}: {text}", transcript.decoder_steps);
        let heard = words(&text);
        let most = heard.iter().map(|w| heard.iter().filter(|v| *v == w).count()).max().unwrap_or(0);
        assert!(most <= 3, "a loop left in the text: {text}");
    }

    #[test]
    fn the_final_window_keeps_its_unfinished_segment_instead_of_resuming() {
        // "<0.00> words <1.00><1.00> more words" with no closing timestamp, in a window of
        // 179 frames (1.79 s). Mid-recording, the window resumes at 1.00 s to hear the rest
        // whole; at the end of the audio there is nothing more to hear, and resuming there
        // re-decoded ever shorter tails.
        let engine = engine();
        let ts = engine.rules.timestamp_begin;
        let tokens = vec![ts, 1_000, 2_000, ts + 50, ts + 50, 3_000, 4_000];
        let attempt = Attempt { tokens, avg_logprob: -0.2, no_speech_prob: 0.0, temperature: 0.0, looped: false, steps: 8 };
        let (segments, advance) = engine.split_segments(&attempt, 0.0, 179, false);
        assert_eq!((segments.len(), advance), (1, 100), "mid-recording: resume at the closing timestamp");
        let (segments, advance) = engine.split_segments(&attempt, 0.0, 179, true);
        assert_eq!(advance, 179, "the final window is done");
        assert_eq!(segments.len(), 2, "{segments:?}");
        assert_eq!(segments[1].tokens, [ts + 50, 3_000, 4_000], "the tail with its opening timestamp");
        assert!((segments[1].start - 1.0).abs() < 1e-6 && (segments[1].end - 1.79).abs() < 1e-6, "{:?}", segments[1]);
    }

    #[test]
    fn silence_and_noise_floor_give_no_text() {
        // 20 s of near silence with a faint hum: no window is worth decoding.
        let audio: Vec<f32> = (0..20 * SAMPLE_RATE).map(|i| 0.0005 * (i as f32 * 0.05).sin()).collect();
        let transcript = engine().transcribe(&mut InMemory(audio), None, &mut |_| {}).expect("transcribes");
        assert!(transcript.segments.is_empty(), "{:?}", transcript.segments);
        assert!((transcript.duration - 20.0).abs() < 0.01);
    }

    #[test]
    fn a_foreign_language_is_refused_by_an_english_model() {
        let err = engine().transcribe(&mut InMemory(vec![0.0; 16_000]), Some("de"), &mut |_| {}).expect_err("English only");
        assert!(matches!(&err, TranscribeError::Language(m) if m.contains("English only")), "{err}");
        assert!(engine().language_token(Some("en-GB")).expect("English").is_none());
        let err = engine().transcribe_after(&mut InMemory(vec![0.0; 16_000]), None, &[], Task::Translate, &mut |_| {}).expect_err("no translation");
        assert!(matches!(&err, TranscribeError::Language(m) if m.contains("cannot translate")), "{err}");
    }

    #[test]
    fn text_said_before_the_audio_steers_its_words() {
        // espeak saying a name and a word tiny.en has not learnt: alone, it hears other
        // words; told what was said before, it spells them.
        let engine = engine();
        let json = std::fs::read_to_string(model_dir().join("tokenizer.json")).expect("tiny.en's tokenizer.json");
        let encoder = crate::bpe::Encoder::parse("tokenizer.json", &json).expect("parses");
        let audio = speech("Kwabena wrote the Scribed daemon in Rust.");
        let read = |previous: &[u32]| {
            let transcript = engine.transcribe_after(&mut InMemory(audio.clone()), None, previous, Task::Transcribe, &mut |_| {}).expect("transcribes");
            transcript.segments.iter().map(|s| s.text.as_str()).collect::<String>()
        };
        let alone = read(&[]);
        assert!(!alone.contains("Kwabena") && !alone.contains("Scribed"), "{alone}");
        let previous = encoder.encode(" Kwabena, Scribed.");
        let told = read(&previous);
        assert!(told.contains("Kwabena") && told.contains("Scribed"), "{told}");
        assert!(words(&told).ends_with(&words("in Rust")), "the audio's words, not the previous text: {told}");
        // More previous text than half the decoder's context: the last part is read.
        let long: Vec<u32> = std::iter::repeat_n(previous.as_slice(), 100).flatten().copied().collect();
        assert!(long.len() > 2 * MAX_PREVIOUS_TOKENS);
        let told = read(&long);
        assert!(told.contains("Kwabena"), "{told}");
    }

    #[test]
    fn when_every_attempt_fails_the_likeliest_that_does_not_loop_is_kept() {
        let attempt = |avg_logprob: f32, temperature: f32| Attempt { tokens: Vec::new(), avg_logprob, no_speech_prob: 0.0, temperature, looped: false, steps: 1 };
        let kept = likeliest(vec![(attempt(-1.3, 0.0), false), (attempt(-0.9, 0.2), true), (attempt(-1.1, 0.4), false), (attempt(-4.2, 1.0), false)]);
        assert_eq!(kept.map(|a| a.temperature), Some(0.4), "not the last, most random one, nor the loop");
        let kept = likeliest(vec![(attempt(-2.0, 0.0), true), (attempt(-1.5, 0.2), true)]);
        assert_eq!(kept.map(|a| a.temperature), Some(0.2), "all loop: the likeliest");
        assert!(likeliest(Vec::new()).is_none());
    }

    #[test]
    fn a_multilingual_model_translates_into_english() {
        // Measured: base (f32) reads this espeak Spanish as "Good morning. Today we talk about
        // the time of the marine sea. ..."; transcribed, it is Spanish.
        let engine = engine_in(&model_dir().with_file_name("base"));
        let audio = speech_in("es", "Buenos días. Hoy hablamos del tiempo y del tren a Madrid. El tren sale a las ocho de la mañana.");
        let read = |task: Task| {
            let t = engine.transcribe_after(&mut InMemory(audio.clone()), None, &[], task, &mut |_| {}).expect("transcribes");
            (t.language, t.segments.iter().map(|s| s.text.as_str()).collect::<String>().to_lowercase())
        };
        let (language, english) = read(Task::Translate);
        assert_eq!(language.as_deref(), Some("es"), "the language spoken, not the output's");
        assert!(english.contains("good morning") && english.contains("today") && !english.contains("buenos") && !english.contains("hoy"), "{english}");
        let (_, spanish) = read(Task::Transcribe);
        assert!(spanish.contains("buenos") && spanish.contains("tren"), "{spanish}");
    }
}
