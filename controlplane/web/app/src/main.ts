// The Spacecast room page: redeem the link at the control plane, then join
// the call on the edge with livekit-client. Talks to an embedding parent
// window with postMessage (see docs/embedding.md).
import { takeCredentials } from './address';
import { join, JoinError, Session, type JoinAnswer, type WaitingAnswer } from './api';
import { Call, type Devices, type EndReason } from './call';
import { $, setStatus, show } from './dom';
import { Parent } from './parent';
import { atMost, joinWaitMs, probeRegions } from './regions';
import { Lobby, resume, Tickets, Waiter } from './waiting';
import { Track } from 'livekit-client';

interface PageConfig {
  alias: string;
  parentOrigins: string[] | null;
}

const cfg = JSON.parse($('#spacecast-config').textContent || '{}') as PageConfig;
// Read first: the credentials leave the address bar at once.
const params = takeCredentials(cfg.alias, location, history);
const session = new Session(cfg.alias);
const tickets = new Tickets(cfg.alias);
const parent = new Parent(cfg.parentOrigins || []);
const loadedAt = performance.now();
// The regions are probed while the participant is on the pre-join step;
// the join waits for the probe joinWaitMs at most.
const rtts = probeRegions();
let call: Call | null = null;
let answer: JoinAnswer | null = null;
let lobby: Lobby | null = null;

const notices: Record<string, [string, string]> = {
  access_link_used: ['This invitation link was already used', 'Invitation links work once. Ask the organiser for a new one.'],
  access_link_expired: ['This invitation link has expired', 'Ask the organiser for a new link.'],
  embed_token_used: ['This link was already used', 'Open the call again from the site that sent you here.'],
  embed_token_expired: ['This link has expired', 'Open the call again from the site that sent you here.'],
  not_found: ['This room does not exist', 'Check the link, or ask the organiser for a new one.'],
  unauthorized: ['You have no access to this room', 'This room is private. Ask the organiser for an invitation.'],
  forbidden: ['You have no access to this room', 'This room is private. Ask the organiser for an invitation.'],
  waiting_refused: ['You were not let in', 'A moderator refused you entry to this room.'],
  waiting_gone: ['You are no longer waiting', 'Your place in the waiting room was given up while the page was away. Open the room again, or ask the organiser for a new invitation.'],
  waiting_left: ['You left the waiting room', 'You can close this page.'],
};

function showNotice(code: string, fallback?: string): void {
  let [title, text] = notices[code] || ['Could not join the call', fallback || 'Something went wrong. Try again later.'];
  // A refusal says why, in the moderator's words when there are some.
  if (code === 'waiting_refused' && fallback) text = fallback.charAt(0).toUpperCase() + fallback.slice(1) + '.';
  $('#notice-title').textContent = title;
  $('#notice-text').textContent = text;
  $('#notice').dataset.code = code;
  show('notice');
  parent.emit('error', { code, message: title });
}

const endings: Record<EndReason, [string, string]> = {
  left: ['You left the call', 'You can close this page.'],
  removed: ['You were removed from the call', 'A moderator removed you from this call. This link cannot be used to join again.'],
  'room-closed': ['The call has ended', 'The host ended the call for everyone.'],
  lost: ['The connection was lost', 'The call could not be reached again. Check your network and open the link again.'],
};

function ended(reason: EndReason): void {
  // Neither a leave nor a removal may be undone with a reload; after a lost
  // connection a reload tries again with the session.
  if (reason !== 'lost') session.clear();
  lobby?.stop();
  const [title, text] = endings[reason];
  $('#ended-title').textContent = title;
  $('#ended-text').textContent = text;
  $('#ended').dataset.reason = reason;
  setStatus('');
  show('ended');
  parent.emit('left', { reason });
  parent.post('ld_finish_call');
  const to = answer?.room.redirectUrl;
  if (to && /^https?:\/\//.test(to)) window.setTimeout(() => location.assign(to), 1500);
}

parent.listen((c) => call?.command(c));

// --- pre-join --------------------------------------------------------------

let previewStream: MediaStream | null = null;

function stopPreview(): void {
  previewStream?.getTracks().forEach((t) => t.stop());
  previewStream = null;
}

async function preview(): Promise<void> {
  const video = $<HTMLVideoElement>('#preview');
  if (!navigator.mediaDevices?.getUserMedia) {
    video.parentElement?.classList.add('off');
    return;
  }
  const camOn = $<HTMLInputElement>('#pre-camera').checked;
  stopPreview();
  if (!camOn) {
    video.srcObject = null;
    video.parentElement?.classList.add('off');
    return;
  }
  try {
    const camId = $<HTMLSelectElement>('#pre-camera-dev').value;
    previewStream = await navigator.mediaDevices.getUserMedia({ video: camId ? { deviceId: { exact: camId } } : true, audio: false });
    video.srcObject = previewStream;
    video.parentElement?.classList.remove('off');
    await listDevices();
  } catch {
    video.parentElement?.classList.add('off');
  }
}

async function listDevices(): Promise<void> {
  const devs = await navigator.mediaDevices.enumerateDevices().catch(() => [] as MediaDeviceInfo[]);
  const fill = (sel: string, kind: MediaDeviceKind): void => {
    const s = $<HTMLSelectElement>(sel);
    const list = devs.filter((d) => d.kind === kind && d.deviceId);
    const was = s.value;
    s.replaceChildren(
      ...list.map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || (kind === 'videoinput' ? 'Camera ' : 'Microphone ') + (i + 1);
        return o;
      }),
    );
    if (list.some((d) => d.deviceId === was)) s.value = was;
    s.hidden = list.length === 0;
  };
  fill('#pre-camera-dev', 'videoinput');
  fill('#pre-mic-dev', 'audioinput');
}

function chosenDevices(): Devices {
  return {
    camera: $<HTMLInputElement>('#pre-camera').checked,
    microphone: $<HTMLInputElement>('#pre-mic').checked,
    cameraId: $<HTMLSelectElement>('#pre-camera-dev').value || undefined,
    microphoneId: $<HTMLSelectElement>('#pre-mic-dev').value || undefined,
  };
}

async function enter(name: string): Promise<void> {
  $<HTMLButtonElement>('#pre-join-btn').disabled = true;
  setStatus('Joining…');
  try {
    // A reload of the waiting screen takes its place back.
    const ticket = tickets.get();
    const measured = await atMost(rtts, joinWaitMs);
    let a: JoinAnswer | WaitingAnswer = ticket
      ? await resume(cfg.alias, ticket, session, measured)
      : await join(cfg.alias, params, session, name, measured);
    stopPreview();
    if (a.status === 'waiting') {
      setStatus('');
      a = await new Waiter(cfg.alias, tickets, session, measured).admitted(a);
      setStatus('Joining…');
    }
    answer = a;
    const current = new Call(answer, chosenDevices(), {
      emit: (type, detail) => parent.emit(type, detail),
      rejoin: async () => {
        // With the session credential: a reconnect never waits.
        const again = await join(cfg.alias, params, session, answer?.name || name, await atMost(rtts, joinWaitMs));
        if (again.status !== 'joined') throw new JoinError('waiting');
        return (answer = again);
      },
      ended,
    });
    call = current;
    show('call');
    await current.connect();
    setStatus('');
    if (answer.role === 'owner' || answer.role === 'moderator') {
      lobby = new Lobby(answer.room, () => answer?.session.token || '');
      lobby.start();
    }
  } catch (e) {
    setStatus('');
    stopPreview();
    tickets.clear();
    if (e instanceof JoinError) showNotice(e.code, e.message);
    else showNotice('error', e instanceof Error ? e.message : undefined);
  }
}

function start(): void {
  parent.emit('ready');
  const name = params.get('participantName') || '';
  $<HTMLInputElement>('#pre-name').value = name;
  $('#pre-name-row').hidden = !!name;
  $('#pre-as').hidden = !name;
  $('#pre-as strong').textContent = name;
  show('prejoin');
  void preview();
  $('#pre-camera').onchange = () => void preview();
  $('#pre-camera-dev').onchange = () => void preview();
  $<HTMLFormElement>('#pre-join').onsubmit = (ev) => {
    ev.preventDefault();
    void enter($<HTMLInputElement>('#pre-name').value.trim() || name);
  };
  window.addEventListener('pagehide', stopPreview);
  // autojoin=1, or a reload of the waiting screen: straight on.
  if (params.get('autojoin') === '1' || tickets.get()) $<HTMLButtonElement>('#pre-join-btn').click();
}

// --- probe -------------------------------------------------------------------

interface PageState {
  screen: string;
  code: string;
  ended: string;
  status: string;
  framesDecoded: number;
  audioPackets: number;
  publishControls: number;
  moderatorControls: number;
  handsRaised: number;
  tiles: number;
  screenTiles: number;
  /** who the moderators' waiting list shows */
  lobby: string[];
  chat: string[];
  toolbarReady: boolean;
  role: string;
  microphoneEnabled: boolean;
  cameraEnabled: boolean;
  connection: string;
  remoteTracks: number;
  /** from this script's start to connected (as the page before TypeScript measured it) */
  loadToJoinedMs: number | null;
  /** from navigation start (HTML, bundle download and parse included) to connected */
  navigationToJoinedMs: number | null;
}

async function state(): Promise<PageState> {
  const vis = [...document.querySelectorAll<HTMLElement>('.screen')].find((s) => !s.hidden);
  const st = call ? await call.stats() : { framesDecoded: 0, audioPackets: 0 };
  const lp = call?.room?.localParticipant;
  const status = $('#status');
  return {
    screen: vis ? vis.id : '',
    code: $('#notice').dataset.code || '',
    ended: $('#ended').dataset.reason || '',
    status: status.hidden ? '' : status.textContent || '',
    framesDecoded: st.framesDecoded,
    audioPackets: st.audioPackets,
    publishControls: ['#btn-mic', '#btn-cam', '#btn-screen'].filter((b) => !$(b).hidden).length,
    moderatorControls: document.querySelectorAll('#grid .mod').length,
    handsRaised: document.querySelectorAll('#grid .tile.hand').length,
    tiles: document.querySelectorAll('#grid .tile').length,
    screenTiles: document.querySelectorAll('#grid .tile.screen-share').length,
    lobby: lobby ? lobby.names : [],
    chat: [...document.querySelectorAll('#chat-log li')].map((li) => li.textContent || ''),
    toolbarReady: !!call?.toolbarReady,
    role: answer ? answer.role : '',
    microphoneEnabled: !!lp?.isMicrophoneEnabled,
    cameraEnabled: !!lp?.isCameraEnabled,
    connection: call?.room?.state || '',
    remoteTracks: [...(call?.room?.remoteParticipants.values() || [])].reduce((n, p) => n + p.trackPublications.size, 0),
    loadToJoinedMs: call && call.joinedAt ? Math.round(call.joinedAt - loadedAt) : null,
    navigationToJoinedMs: call && call.joinedAt ? Math.round(call.joinedAt) : null,
  };
}

// tryPublish turns the microphone on whatever the toolbar shows, to check
// that the edge, not only the page, refuses a participant without the grant.
async function tryPublish(): Promise<{ published: boolean; error: string }> {
  const lp = call?.room?.localParticipant;
  if (!lp) return { published: false, error: 'not in a call' };
  let error = '';
  await lp.setMicrophoneEnabled(true).catch((e: unknown) => (error = String(e)));
  await new Promise((r) => setTimeout(r, 1000));
  const pub = lp.getTrackPublication(Track.Source.Microphone);
  return { published: !!pub?.trackSid, error };
}

// window.__spacecast is the page's probe for tests and embedders' debugging.
(window as unknown as { __spacecast: unknown }).__spacecast = { state, tryPublish };

// ?probe=1 also logs the state to the console once a second, for tests that
// read Chromium's log.
if (params.get('probe') === '1') {
  window.setInterval(() => void state().then((s) => console.log('SPACECAST ' + JSON.stringify(s))), 1000);
}

start();
