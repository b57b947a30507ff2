// Recording with this browser's microphone: AudioWorklet → 16-bit PCM, streamed to the
// daemon's ingest socket (`/api/v1/live/ingest`) and written to the IndexedDB store of unsent recordings at the
// same time. The daemon transcribes live while it is reachable; whatever it did not confirm
// is uploaded from there later, so a lost network or a closed tab loses nothing.

import * as unsent from './unsent.js';
import { parseMessage, wsUrl } from './events.js';

/** The rate asked of the audio context: what speech providers want, and 1/3 of the bytes. */
const SAMPLE_RATE = 16000;
/** Longest wait for the daemon to confirm a stopped recording, ms. */
const CONFIRM_TIMEOUT_MS = 60000;

export class BrowserRecorder {
  /**
   * `onState(state, detail)`: `connecting`, `live` (with the session id), `local` (the daemon
   * is out of reach: recording into the unsent store only), `stopping`, `saved` (confirmed) or
   * `kept` (unsent, to be uploaded). `onLevel(rms, peak)`; `onEvent(event)` for the
   * session's events from the daemon.
   */
  constructor({ title, onState, onLevel, onEvent }) {
    this.title = title;
    this.onState = onState;
    this.onLevel = onLevel;
    this.onEvent = onEvent;
    this.socket = null;
    this.live = false;
    this.ended = null;
    this.pending = Promise.resolve();
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    try {
      this.context = new AudioContext({ sampleRate: SAMPLE_RATE });
      this.source = this.context.createMediaStreamSource(this.stream);
    } catch {
      // Some browsers cannot resample a microphone: record at the device's rate instead.
      await this.context?.close();
      this.context = new AudioContext();
      this.source = this.context.createMediaStreamSource(this.stream);
    }
    await this.context.audioWorklet.addModule('/js/pcm-worklet.js');
    this.rec = await unsent.create({ title: this.title, sampleRate: this.context.sampleRate });
    this.node = new AudioWorkletNode(this.context, 'pcm-capture');
    this.node.port.onmessage = (e) => this.frame(e.data);
    // Rendered silently: a node that reaches no destination may never be run.
    const mute = this.context.createGain();
    mute.gain.value = 0;
    this.source.connect(this.node).connect(mute).connect(this.context.destination);
    this.openSocket();
  }

  openSocket() {
    this.onState('connecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl('/api/v1/live/ingest'));
    } catch {
      this.onState('local');
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.socket = ws;
    this.ended = new Promise((resolve) => {
      ws.onopen = () => {
        ws.send(JSON.stringify({
          type: 'start', sample_rate: this.context.sampleRate, channels: 1, encoding: 's16le', title: this.title || undefined,
        }));
      };
      ws.onmessage = (message) => {
        const event = parseMessage(message.data);
        if (!event) return;
        if (event.type === 'started') {
          this.live = true;
          this.rec.sessionId = event.session_id;
          this.pending = this.pending.then(() => unsent.save(this.rec));
          this.onState('live', event.session_id);
        } else if (event.type === 'ended') {
          resolve(event.status);
        } else {
          this.onEvent?.(event);
        }
      };
      ws.onclose = () => {
        this.socket = null;
        this.live = false;
        if (!this.stopping) this.onState('local');
        resolve(null);
      };
    });
  }

  frame(samples) {
    let sum = 0;
    let peak = 0;
    const pcm = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i += 1) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      pcm[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
      sum += s * s;
      peak = Math.max(peak, Math.abs(s));
    }
    this.onLevel?.(Math.sqrt(sum / samples.length), peak);
    if (this.live && this.socket?.readyState === WebSocket.OPEN) this.socket.send(pcm.buffer);
    // Writes are chained so the unsent store keeps the order of the audio.
    this.pending = this.pending.then(() => unsent.append(this.rec, pcm)).catch((err) => console.error('saving the unsent recording failed', err));
  }

  /** Stops; resolves to `saved` when the daemon confirmed the recording, `kept` otherwise. */
  async stop() {
    this.stopping = true;
    this.onState('stopping');
    this.stream?.getTracks().forEach((t) => t.stop());
    this.node?.port.close();
    await this.context?.close();
    await this.pending;
    let status = null;
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'stop' }));
      const timeout = new Promise((resolve) => setTimeout(() => resolve(null), CONFIRM_TIMEOUT_MS));
      status = await Promise.race([this.ended, timeout]);
    }
    this.rec.state = 'stopped';
    if (status && status !== 'error') {
      await unsent.remove(this.rec.id);
      this.onState('saved', this.rec.sessionId);
      return 'saved';
    }
    await unsent.save(this.rec);
    this.onState('kept');
    return 'kept';
  }
}
