// The call: one livekit-client Room, its tiles, the toolbar, chat over data
// packets, raised hands and moderation.
import {
  DisconnectReason,
  type LocalParticipant,
  type Participant,
  type RemoteParticipant,
  Room,
  RoomEvent,
  Track,
  type TrackPublication,
} from 'livekit-client';
import { can, type JoinAnswer } from './api';
import { $, setStatus } from './dom';

/** How the call ended for this participant. */
export type EndReason = 'left' | 'removed' | 'room-closed' | 'lost';

export interface CallHooks {
  emit(type: string, detail?: Record<string, unknown>): void;
  /** rejoin asks the control plane for a fresh answer (session credential). */
  rejoin(): Promise<JoinAnswer>;
  ended(reason: EndReason): void;
}

export interface Devices {
  camera: boolean;
  microphone: boolean;
  cameraId?: string;
  microphoneId?: string;
}

type Layout = 'auto' | 'grid' | 'speaker';

const maxChat = 2000;

export class Call {
  room: Room | null = null;
  toolbarReady = false;
  joinedAt = 0;
  private ended = false;
  private leaving = false;
  private layout: Layout = 'auto';
  private readonly tiles = new Map<string, HTMLElement>();
  private readonly audio = new Map<string, HTMLMediaElement>();
  private lastSpeaker = '';

  constructor(
    private answer: JoinAnswer,
    private readonly devices: Devices,
    private readonly hooks: CallHooks,
  ) {}

  get identity(): string {
    return this.answer.identity;
  }
  get role(): string {
    return this.answer.role;
  }

  async connect(): Promise<void> {
    const room = new Room({
      adaptiveStream: true,
      dynacast: true,
      videoCaptureDefaults: this.devices.cameraId ? { deviceId: this.devices.cameraId } : {},
      audioCaptureDefaults: this.devices.microphoneId ? { deviceId: this.devices.microphoneId } : {},
    });
    this.room = room;
    const render = (): void => this.render();
    room
      .on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) => {
        this.hooks.emit('participant-joined', { identity: p.identity, name: p.name });
        render();
      })
      .on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) => {
        this.hooks.emit('participant-left', { identity: p.identity, name: p.name });
        render();
      })
      .on(RoomEvent.TrackSubscribed, render)
      .on(RoomEvent.TrackUnsubscribed, render)
      .on(RoomEvent.TrackMuted, render)
      .on(RoomEvent.TrackUnmuted, render)
      .on(RoomEvent.TrackPublished, render)
      .on(RoomEvent.TrackUnpublished, render)
      .on(RoomEvent.LocalTrackPublished, render)
      .on(RoomEvent.LocalTrackUnpublished, render)
      .on(RoomEvent.ActiveSpeakersChanged, (speakers: Participant[]) => {
        const remote = speakers.find((s) => s.identity !== this.answer.identity);
        if (remote) this.lastSpeaker = remote.identity;
        render();
      })
      .on(RoomEvent.ParticipantAttributesChanged, render)
      .on(RoomEvent.RecordingStatusChanged, render)
      .on(RoomEvent.DataReceived, (payload: Uint8Array, p?: RemoteParticipant) => this.onData(payload, p))
      .on(RoomEvent.Reconnecting, () => setStatus('Reconnecting…', 'reconnecting'))
      .on(RoomEvent.Reconnected, () => setStatus(''))
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => void this.onDisconnected(room, reason));
    await room.connect(this.answer.edge.url, this.answer.mediaToken, {
      rtcConfig: { iceServers: this.answer.iceServers || [] },
    });
    this.joinedAt = performance.now();
    setStatus('');
    $('#room-name').textContent = this.answer.room.name;
    this.watchSize();
    this.setupToolbar();
    this.render();
    this.hooks.emit('joined', { identity: this.answer.identity, name: this.answer.name, role: this.answer.role });
    const lp = room.localParticipant;
    if (can(this.answer, 'camera') && this.devices.camera) await lp.setCameraEnabled(true).catch(() => undefined);
    if (can(this.answer, 'microphone') && this.devices.microphone) await lp.setMicrophoneEnabled(true).catch(() => undefined);
    this.render();
  }

  private async onDisconnected(room: Room, reason?: DisconnectReason): Promise<void> {
    if (this.ended || room !== this.room) return;
    switch (reason) {
      case DisconnectReason.CLIENT_INITIATED:
        // Not our leave(): livekit-client disconnects while the page
        // unloads (a reload); the session must survive that.
        if (this.leaving) this.finish('left');
        return;
      case DisconnectReason.PARTICIPANT_REMOVED:
        return this.finish('removed');
      case DisconnectReason.ROOM_DELETED:
        return this.finish('room-closed');
    }
    // livekit-client gave up resuming: join again through the control plane
    // with the session credential and connect to the edge it names.
    setStatus('Reconnecting…', 'reconnecting');
    try {
      this.answer = await this.hooks.rejoin();
      await this.connect();
      setStatus('');
    } catch {
      setStatus('');
      this.finish('lost');
    }
  }

  private finish(reason: EndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.hooks.ended(reason);
  }

  async leave(): Promise<void> {
    const room = this.room;
    this.leaving = true;
    this.finish('left');
    if (room) await room.disconnect();
  }

  /** command runs a parent's command, within what the room allows. */
  command(c: string): void {
    const lp = this.room?.localParticipant;
    if (!lp) return;
    const done = (p: Promise<unknown>): void => void p.then(() => this.render()).catch(() => undefined);
    switch (c) {
      case 'mute-microphone':
        return done(lp.setMicrophoneEnabled(false));
      case 'unmute-microphone':
        if (can(this.answer, 'microphone')) done(lp.setMicrophoneEnabled(true));
        return;
      case 'mute-camera':
        return done(lp.setCameraEnabled(false));
      case 'unmute-camera':
        if (can(this.answer, 'camera')) done(lp.setCameraEnabled(true));
        return;
      case 'leave':
        return done(this.leave());
    }
  }

  // --- toolbar -----------------------------------------------------------

  private setupToolbar(): void {
    const room = this.room;
    if (!room) return;
    const lp = room.localParticipant;
    const a = this.answer;
    const bind = (id: string, allowed: boolean, fn: () => Promise<unknown>): void => {
      const b = $<HTMLButtonElement>(id);
      b.hidden = !allowed;
      b.onclick = () => {
        b.disabled = true;
        fn()
          .then(() => this.render())
          .catch((e: unknown) => setStatus(errorText(e), 'error', 4000))
          .finally(() => (b.disabled = false));
      };
    };
    bind('#btn-mic', can(a, 'microphone') && a.room.isMicrophonePublishingAllowed !== false, () =>
      lp.setMicrophoneEnabled(!lp.isMicrophoneEnabled),
    );
    bind('#btn-cam', can(a, 'camera') && a.room.isCameraPublishingAllowed !== false, () =>
      lp.setCameraEnabled(!lp.isCameraEnabled),
    );
    const screenOK = can(a, 'screen_share') && a.room.isScreensharingAllowed !== false && !!navigator.mediaDevices?.getDisplayMedia;
    bind('#btn-screen', screenOK, () => lp.setScreenShareEnabled(!lp.isScreenShareEnabled, { audio: false }));
    const handOK = a.room.isHandRaisingAllowed !== false && a.grants.canUpdateOwnMetadata !== false;
    bind('#btn-hand', handOK, () => lp.setAttributes({ hand: handUp(lp) ? '' : '1' }));
    bind('#btn-layout', true, async () => {
      this.layout = this.currentLayout() === 'speaker' ? 'grid' : 'speaker';
    });
    const chatShown = a.room.isChatAllowed;
    const chatOK = chatShown && a.grants.canPublishData;
    $('#btn-chat').hidden = !chatShown;
    $('#btn-chat').onclick = () => this.toggleChat();
    $('#chat-close').onclick = () => this.toggleChat(false);
    $('#chat-form').hidden = !chatOK;
    $<HTMLFormElement>('#chat-form').onsubmit = (ev) => {
      ev.preventDefault();
      const input = $<HTMLInputElement>('#chat-input');
      const text = input.value.trim().slice(0, maxChat);
      if (!text) return;
      const data = new TextEncoder().encode(JSON.stringify({ type: 'chat', text }));
      lp.publishData(data, { reliable: true, topic: 'chat' })
        .then(() => {
          this.addChat(a.name, text, true);
          input.value = '';
        })
        .catch((e: unknown) => setStatus(errorText(e), 'error', 4000));
    };
    // Moderators of a room that records start and stop its recording
    // through the edge's Egress service (their media token has roomRecord).
    bind('#btn-record', a.grants.canRecord === true, () => this.toggleRecording());
    $('#btn-leave').onclick = () => void this.leave();
    this.toolbarReady = true;
  }

  private toggleChat(open?: boolean): void {
    const chat = $('#chat');
    chat.hidden = open === undefined ? !chat.hidden : !open;
    $('#btn-chat').setAttribute('aria-expanded', String(!chat.hidden));
    if (!chat.hidden) {
      $('#btn-chat').classList.remove('unread');
      $<HTMLInputElement>('#chat-input').focus();
    }
  }

  private onData(payload: Uint8Array, p?: RemoteParticipant): void {
    let m: unknown;
    try {
      m = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    const msg = m as { type?: unknown; text?: unknown };
    if (msg.type !== 'chat' || typeof msg.text !== 'string') return;
    this.addChat(p ? p.name || p.identity : 'System', msg.text.slice(0, maxChat), false);
  }

  private addChat(who: string, text: string, mine: boolean): void {
    const li = document.createElement('li');
    if (mine) li.className = 'mine';
    const head = document.createElement('div');
    head.className = 'who';
    const name = document.createElement('strong');
    name.textContent = mine ? 'You' : who;
    const time = document.createElement('time');
    time.textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    head.append(name, time);
    const body = document.createElement('p');
    body.textContent = text;
    li.append(head, body);
    const log = $('#chat-log');
    log.append(li);
    log.scrollTop = log.scrollHeight;
    if ($('#chat').hidden && !mine) $('#btn-chat').classList.add('unread');
  }

  // --- tiles -------------------------------------------------------------

  private currentLayout(): 'grid' | 'speaker' {
    if (this.layout !== 'auto') return this.layout;
    return this.screenShares() > 0 ? 'speaker' : 'grid';
  }

  private screenShares(): number {
    const room = this.room;
    if (!room) return 0;
    let n = 0;
    for (const p of [room.localParticipant, ...room.remoteParticipants.values()]) {
      if (visible(p.getTrackPublication(Track.Source.ScreenShare))) n++;
    }
    return n;
  }

  render(): void {
    const room = this.room;
    if (!room || this.ended) return;
    const keep = new Set<string>();
    const lp = room.localParticipant;
    const people: Participant[] = [lp, ...room.remoteParticipants.values()];
    // In a webinar viewers watch the hosts: tiles only for those who can publish.
    const webinar = this.answer.room.type === 'webinar';
    for (const p of people) {
      const local = p === lp;
      if (webinar && !local && !p.permissions?.canPublish) continue;
      if (webinar && local && !can(this.answer, 'camera') && !can(this.answer, 'microphone')) continue;
      keep.add(this.personTile(p, local));
      if (visible(p.getTrackPublication(Track.Source.ScreenShare))) keep.add(this.screenTile(p, local));
      if (!local) this.attachAudio(p as RemoteParticipant);
    }
    for (const [key, el] of this.tiles) {
      if (!keep.has(key)) {
        el.remove();
        this.tiles.delete(key);
      }
    }
    for (const [key, el] of this.audio) {
      if (!room.getParticipantByIdentity(key.slice(key.indexOf(':') + 1))) {
        el.remove();
        this.audio.delete(key);
      }
    }
    this.arrange(keep.size);
    const n = people.length;
    setText($('#people'), n === 1 ? 'Only you so far' : `${n} people`);
    this.renderToolbar(lp);
  }

  private resize: ResizeObserver | null = null;

  private watchSize(): void {
    if (this.resize || typeof ResizeObserver === 'undefined') return;
    this.resize = new ResizeObserver(() => this.arrange(this.tiles.size));
    this.resize.observe($('#grid'));
  }

  private arrange(count: number): void {
    const grid = $('#grid');
    const layout = this.currentLayout();
    fitGrid(grid, layout === 'grid' ? count : 0);
    grid.dataset.count = String(count);
    grid.dataset.layout = layout;
    grid.classList.toggle('empty', count === 0);
    let stage = '';
    if (layout === 'speaker') {
      const keys = [...this.tiles.keys()];
      stage =
        keys.find((k) => k.startsWith('screen:')) ||
        (this.lastSpeaker && this.tiles.has('cam:' + this.lastSpeaker) ? 'cam:' + this.lastSpeaker : '') ||
        keys.find((k) => k !== 'cam:' + this.answer.identity) ||
        keys[0] ||
        '';
    }
    for (const [key, el] of this.tiles) el.classList.toggle('stage', key === stage);
    const btn = $('#btn-layout');
    btn.setAttribute('aria-label', layout === 'speaker' ? 'Show everyone in a grid' : 'Show the active speaker large');
    btn.setAttribute('aria-pressed', String(layout === 'speaker'));
  }

  private renderToolbar(lp: LocalParticipant): void {
    const mic = $('#btn-mic');
    mic.setAttribute('aria-pressed', String(!lp.isMicrophoneEnabled));
    mic.setAttribute('aria-label', lp.isMicrophoneEnabled ? 'Mute microphone' : 'Unmute microphone');
    mic.title = mic.getAttribute('aria-label') || '';
    const cam = $('#btn-cam');
    cam.setAttribute('aria-pressed', String(!lp.isCameraEnabled));
    cam.setAttribute('aria-label', lp.isCameraEnabled ? 'Turn camera off' : 'Turn camera on');
    cam.title = cam.getAttribute('aria-label') || '';
    const screen = $('#btn-screen');
    screen.setAttribute('aria-pressed', String(lp.isScreenShareEnabled));
    screen.setAttribute('aria-label', lp.isScreenShareEnabled ? 'Stop sharing' : 'Share screen');
    screen.title = screen.getAttribute('aria-label') || '';
    const recording = !!this.room?.isRecording;
    $('#rec').hidden = !recording;
    const rec = $('#btn-record');
    rec.setAttribute('aria-pressed', String(recording));
    rec.setAttribute('aria-label', recording ? 'Stop recording' : 'Start recording');
    rec.title = rec.getAttribute('aria-label') || '';
    const hand = $('#btn-hand');
    const up = handUp(lp);
    hand.setAttribute('aria-pressed', String(up));
    hand.setAttribute('aria-label', up ? 'Lower hand' : 'Raise hand');
    hand.title = hand.getAttribute('aria-label') || '';
  }

  private newTile(key: string, cls: string): HTMLElement {
    let el = this.tiles.get(key);
    if (el) return el;
    el = document.createElement('figure');
    el.className = 'tile ' + cls;
    el.setAttribute('role', 'listitem');
    el.dataset.key = key;
    el.innerHTML =
      '<video autoplay playsinline muted></video><div class="avatar"><span></span></div>' +
      '<figcaption><span class="mic" aria-hidden="true"></span><span class="name"></span></figcaption>' +
      '<span class="hand-badge" aria-hidden="true"><svg viewBox="0 0 24 24"><path d="M18 11V6a2 2 0 0 0-4 0v5M14 10V4a2 2 0 0 0-4 0v6M10 10.5V6a2 2 0 0 0-4 0v8a8 8 0 0 0 16 0v-3a2 2 0 0 0-4 0"/></svg></span>';
    $('#grid').append(el);
    this.tiles.set(key, el);
    return el;
  }

  private personTile(p: Participant, local: boolean): string {
    const key = 'cam:' + p.identity;
    const el = this.newTile(key, 'person');
    const name = p.name || p.identity;
    el.dataset.identity = p.identity;
    el.classList.toggle('local', local);
    const cam = p.getTrackPublication(Track.Source.Camera);
    this.showVideo(el, cam);
    const avatar = el.querySelector<HTMLElement>('.avatar span');
    if (avatar) {
      avatar.textContent = initials(name);
      avatar.style.backgroundColor = colour(p.identity);
    }
    const mic = p.getTrackPublication(Track.Source.Microphone);
    const muted = !mic || mic.isMuted;
    el.classList.toggle('muted', muted);
    el.classList.toggle('speaking', p.isSpeaking && !muted);
    const hand = handUp(p);
    el.classList.toggle('hand', hand);
    const label = name + (local ? ' (you)' : '');
    setText(el.querySelector('.name'), label);
    el.setAttribute('aria-label', label + (muted ? ', microphone off' : '') + (hand ? ', hand raised' : ''));
    if (!local && this.answer.grants.roomAdmin) this.moderation(el, p as RemoteParticipant, muted);
    return key;
  }

  private screenTile(p: Participant, local: boolean): string {
    const key = 'screen:' + p.identity;
    const el = this.newTile(key, 'screen-share');
    el.dataset.identity = p.identity;
    this.showVideo(el, p.getTrackPublication(Track.Source.ScreenShare));
    const label = (local ? 'Your' : (p.name || p.identity) + '’s') + ' screen';
    setText(el.querySelector('.name'), label);
    el.setAttribute('aria-label', label);
    return key;
  }

  private showVideo(el: HTMLElement, pub: TrackPublication | undefined): void {
    const video = el.querySelector('video');
    if (!video) return;
    const on = visible(pub);
    if (on && pub?.track && video.dataset.sid !== pub.trackSid) {
      // The avatar stays until the first frame is there (no black tile).
      el.classList.add('video-wait');
      video.onloadeddata = () => el.classList.remove('video-wait');
      pub.track.attach(video);
      video.dataset.sid = pub.trackSid;
    }
    if (!on && video.dataset.sid) {
      pub?.track?.detach(video);
      delete video.dataset.sid;
    }
    video.hidden = !on;
    el.classList.toggle('video-off', !on);
  }

  private attachAudio(p: RemoteParticipant): void {
    for (const src of [Track.Source.Microphone, Track.Source.ScreenShareAudio]) {
      const pub = p.getTrackPublication(src);
      const key = src + ':' + p.identity;
      const have = this.audio.get(key);
      if (pub?.track && !pub.isMuted) {
        if (have?.dataset.sid === pub.trackSid) continue;
        have?.remove();
        const a = pub.track.attach();
        a.dataset.sid = pub.trackSid;
        $('#audio').append(a);
        this.audio.set(key, a);
      } else if (have) {
        have.remove();
        this.audio.delete(key);
      }
    }
  }

  // Moderators mute and remove others through the edge's RoomService.
  private moderation(el: HTMLElement, p: RemoteParticipant, muted: boolean): void {
    let box = el.querySelector<HTMLElement>('.mod');
    const who = p.name || p.identity;
    if (!box) {
      box = document.createElement('div');
      box.className = 'mod';
      const btn = (action: string, text: string, fn: () => Promise<void>): void => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'chip';
        b.dataset.action = action;
        b.setAttribute('aria-label', text + ' ' + who);
        b.textContent = text;
        b.onclick = () => {
          b.disabled = true;
          fn()
            .catch((e: unknown) => setStatus(errorText(e), 'error', 4000))
            .finally(() => (b.disabled = false));
        };
        box?.append(b);
      };
      btn('mute', 'Mute', async () => {
        const mic = p.getTrackPublication(Track.Source.Microphone);
        if (mic) await this.roomService('MutePublishedTrack', { identity: p.identity, track_sid: mic.trackSid, muted: true });
      });
      btn('remove', 'Remove', () => this.roomService('RemoveParticipant', { identity: p.identity }));
      el.append(box);
    }
    const mute = box.querySelector<HTMLButtonElement>('[data-action=mute]');
    if (mute) mute.hidden = muted;
  }

  private async toggleRecording(): Promise<void> {
    const room = this.answer.room.id;
    if (!this.room?.isRecording) {
      await this.twirp('Egress', 'StartRoomCompositeEgress', { room_name: room });
      return;
    }
    const list = (await this.twirp('Egress', 'ListEgress', { room_name: room, active: true })) as { items?: { egress_id: string }[] };
    for (const e of list.items || []) await this.twirp('Egress', 'StopEgress', { egress_id: e.egress_id });
  }

  private async twirp(service: string, method: string, body: Record<string, unknown>): Promise<unknown> {
    const base = this.answer.edge.url.replace(/^ws/, 'http').replace(/\/+$/, '');
    const r = await fetch(base + '/twirp/livekit.' + service + '/' + method, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + this.answer.mediaToken },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} failed (${r.status})`);
    return r.json().catch(() => ({}));
  }

  private async roomService(method: string, body: Record<string, unknown>): Promise<void> {
    const base = this.answer.edge.url.replace(/^ws/, 'http').replace(/\/+$/, '');
    const r = await fetch(base + '/twirp/livekit.RoomService/' + method, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + this.answer.mediaToken },
      body: JSON.stringify({ room: this.answer.room.id, ...body }),
    });
    if (!r.ok) throw new Error(`${method} failed (${r.status})`);
  }

  // --- probe ---------------------------------------------------------------

  /** stats sums the decoded video frames of every remote track. */
  async stats(): Promise<{ framesDecoded: number; audioPackets: number }> {
    const out = { framesDecoded: 0, audioPackets: 0 };
    const room = this.room;
    if (!room) return out;
    for (const p of room.remoteParticipants.values()) {
      for (const pub of p.trackPublications.values()) {
        const rep = pub.track ? await pub.track.getRTCStatsReport() : undefined;
        rep?.forEach((s: { type: string; kind?: string; framesDecoded?: number; packetsReceived?: number }) => {
          if (s.type !== 'inbound-rtp') return;
          if (s.kind === 'video') out.framesDecoded += s.framesDecoded || 0;
          if (s.kind === 'audio') out.audioPackets += s.packetsReceived || 0;
        });
      }
    }
    return out;
  }
}

// fitGrid sets the tile width at which n 16:9 tiles, in the best number of
// columns, fill the grid without scrolling (0: the speaker layout's CSS).
function fitGrid(grid: HTMLElement, n: number): void {
  if (n === 0) {
    grid.style.removeProperty('--tile-w');
    return;
  }
  const cs = getComputedStyle(grid);
  const gap = parseFloat(cs.columnGap) || 0;
  const w = grid.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
  const h = grid.clientHeight - (parseFloat(cs.paddingTop) || 0) - (parseFloat(cs.paddingBottom) || 0);
  if (w <= 0 || h <= 0) return;
  let best = 0;
  for (let c = 1; c <= n; c++) {
    const rows = Math.ceil(n / c);
    best = Math.max(best, Math.min((w - gap * (c - 1)) / c, ((h - gap * (rows - 1)) / rows) * (16 / 9)));
  }
  // Below 200 px wide a tile is unreadable: scroll instead.
  grid.style.setProperty('--tile-w', Math.floor(Math.max(best, Math.min(200, w))) + 'px');
}

function visible(pub: TrackPublication | undefined): boolean {
  return !!pub && !!pub.track && !pub.isMuted;
}

function handUp(p: Participant): boolean {
  return p.attributes?.hand === '1';
}

function setText(el: Element | null, text: string): void {
  if (el && el.textContent !== text) el.textContent = text;
}

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return (words.map((w) => w[0]).join('').slice(0, 2) || '?').toUpperCase();
}

// colour picks a stable, dark-enough avatar colour for white initials.
function colour(id: string): string {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 45% 38%)`;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
