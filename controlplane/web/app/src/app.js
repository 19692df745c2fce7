// The Spacecast room page: redeem the link at the control plane, then join
// the call on the edge with livekit-client. Talks to an embedding parent
// window with postMessage (see docs/embedding.md).
(() => {
  'use strict';
  const LK = window.LivekitClient;
  const $ = (sel) => document.querySelector(sel);
  const cfg = JSON.parse($('#spacecast-config').textContent);
  const params = new URLSearchParams(location.search);
  const alias = cfg.alias;
  const sessionKey = 'spacecast.session.' + alias;
  let room = null;
  let answer = null;
  let ended = false;
  let toolbarReady = false;
  const stats = { joinedAt: 0, loadedAt: performance.now() };

  // --- parent window -------------------------------------------------------
  const parentOrigins = cfg.parentOrigins || [];
  function toParent(msg) {
    if (window.parent === window) return;
    for (const o of parentOrigins.length ? parentOrigins : [location.origin]) {
      try { window.parent.postMessage(msg, o); } catch (_) { /* origin mismatch */ }
    }
  }
  function emit(type, detail) { toParent(Object.assign({ type: 'spacecast:' + type }, detail || {})); }
  window.addEventListener('message', (ev) => {
    if (ev.source !== window.parent) return;
    if (!parentOrigins.includes(ev.origin) && ev.origin !== location.origin) return;
    const m = ev.data || {};
    if (m.type !== 'spacecast:command' || !room) return;
    const lp = room.localParticipant;
    switch (m.command) {
      case 'mute-microphone': lp.setMicrophoneEnabled(false).then(render); break;
      case 'unmute-microphone': if (can('microphone')) lp.setMicrophoneEnabled(true).then(render); break;
      case 'mute-camera': lp.setCameraEnabled(false).then(render); break;
      case 'unmute-camera': if (can('camera')) lp.setCameraEnabled(true).then(render); break;
      case 'leave': leave(); break;
    }
  });

  // --- states ----------------------------------------------------------------
  const messages = {
    access_link_used: ['This invitation link was already used', 'Invitation links work once. Ask the organiser for a new one.'],
    access_link_expired: ['This invitation link has expired', 'Ask the organiser for a new link.'],
    not_found: ['This room does not exist', 'Check the link, or ask the organiser for a new one.'],
    unauthorized: ['You have no access to this room', 'This room is private. Ask the organiser for an invitation.'],
    forbidden: ['You have no access to this room', 'This room is private. Ask the organiser for an invitation.'],
  };
  function showNotice(code, fallback) {
    const [title, text] = messages[code] || ['Could not join the call', fallback || 'Something went wrong. Try again later.'];
    $('#notice-title').textContent = title;
    $('#notice-text').textContent = text;
    $('#notice').dataset.code = code || 'error';
    show('notice');
    emit('error', { code: code || 'error', message: title });
  }
  function show(id) {
    for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== id;
  }

  // --- join --------------------------------------------------------------------
  async function join(name) {
    const body = { participantName: name || undefined };
    const session = sessionStorage.getItem(sessionKey);
    if (session) body.sessionToken = session;
    else if (params.get('accessToken')) body.accessToken = params.get('accessToken');
    const headers = { 'content-type': 'application/json' };
    const refresh = params.get('refreshToken');
    if (refresh && !body.sessionToken) {
      const r = await fetch('/v1/auth/token', { method: 'POST', headers, body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: refresh }) });
      const t = await r.json().catch(() => ({}));
      if (!r.ok) throw { code: 'unauthorized' };
      headers.authorization = 'Bearer ' + t.access_token;
    }
    const r = await fetch('/v1/rooms/' + encodeURIComponent(alias) + '/join', { method: 'POST', headers, body: JSON.stringify(body) });
    const a = await r.json().catch(() => ({}));
    if (!r.ok) {
      if (body.sessionToken && r.status !== 410) { sessionStorage.removeItem(sessionKey); }
      throw { code: a.code || (r.status === 404 ? 'not_found' : r.status === 403 ? 'forbidden' : r.status === 401 ? 'unauthorized' : 'error'), message: a.message };
    }
    if (a.session && a.session.token) sessionStorage.setItem(sessionKey, a.session.token);
    return a;
  }

  function can(source) {
    const g = answer.grants || {};
    if (!g.canPublish) return false;
    const s = g.canPublishSources;
    return !s || s.length === 0 || s.includes(source);
  }

  async function connect() {
    room = new LK.Room({ adaptiveStream: true, dynacast: true });
    room
      .on(LK.RoomEvent.ParticipantConnected, (p) => { emit('participant-joined', { identity: p.identity, name: p.name }); render(); })
      .on(LK.RoomEvent.ParticipantDisconnected, (p) => { emit('participant-left', { identity: p.identity, name: p.name }); render(); })
      .on(LK.RoomEvent.TrackSubscribed, render)
      .on(LK.RoomEvent.TrackUnsubscribed, render)
      .on(LK.RoomEvent.TrackMuted, render)
      .on(LK.RoomEvent.TrackUnmuted, render)
      .on(LK.RoomEvent.LocalTrackPublished, render)
      .on(LK.RoomEvent.LocalTrackUnpublished, render)
      .on(LK.RoomEvent.ActiveSpeakersChanged, render)
      .on(LK.RoomEvent.ParticipantAttributesChanged, render)
      .on(LK.RoomEvent.DataReceived, onData)
      .on(LK.RoomEvent.Reconnecting, () => setStatus('Reconnecting…'))
      .on(LK.RoomEvent.Reconnected, () => setStatus(''))
      .on(LK.RoomEvent.Disconnected, onDisconnected);
    await room.connect(answer.edge.url, answer.mediaToken, { rtcConfig: { iceServers: answer.iceServers || [] } });
    stats.joinedAt = performance.now();
    show('call');
    $('#room-name').textContent = answer.room.name;
    emit('joined', { identity: answer.identity, name: answer.name, role: answer.role });
    const wantCam = $('#pre-camera').checked, wantMic = $('#pre-mic').checked;
    if (can('camera') && wantCam) await room.localParticipant.setCameraEnabled(true).catch(() => {});
    if (can('microphone') && wantMic) await room.localParticipant.setMicrophoneEnabled(true).catch(() => {});
    setupToolbar();
    render();
  }

  async function onDisconnected(reason) {
    if (ended) return;
    if (reason === LK.DisconnectReason.CLIENT_INITIATED) return finish();
    if (reason === LK.DisconnectReason.PARTICIPANT_REMOVED) {
      sessionStorage.removeItem(sessionKey);
      return finish('You were removed from the call.');
    }
    // Rejoin through the control plane with the session credential.
    setStatus('Reconnecting…');
    try {
      answer = await join(answer.name);
      await connect();
      setStatus('');
    } catch (e) {
      finish('The call ended.');
    }
  }

  function finish(text) {
    if (ended) return;
    ended = true;
    $('#ended-text').textContent = text || 'You left the call.';
    show('ended');
    emit('left', {});
    toParent('ld_finish_call');
    const to = answer && answer.room && answer.room.redirectUrl;
    if (to && /^https?:\/\//.test(to)) setTimeout(() => { location.href = to; }, 1500);
  }

  async function leave() {
    sessionStorage.removeItem(sessionKey);
    if (room) await room.disconnect();
    finish();
  }

  // --- UI ------------------------------------------------------------------------
  function setStatus(t) { $('#status').textContent = t; $('#status').hidden = !t; }

  function setupToolbar() {
    const lp = room.localParticipant;
    const bind = (id, allowed, fn) => {
      const b = $(id);
      b.hidden = !allowed;
      b.onclick = () => fn().then(render).catch((e) => setStatus(String(e && e.message || e)));
    };
    toolbarReady = true;
    bind('#btn-mic', can('microphone'), () => lp.setMicrophoneEnabled(!lp.isMicrophoneEnabled));
    bind('#btn-cam', can('camera'), () => lp.setCameraEnabled(!lp.isCameraEnabled));
    bind('#btn-screen', can('screen_share') && answer.room.isScreensharingAllowed !== false, () => lp.setScreenShareEnabled(!lp.isScreenShareEnabled));
    // Raise hand: a participant attribute every page shows on the tile.
    bind('#btn-hand', true, () => lp.setAttributes({ hand: lp.attributes && lp.attributes.hand === '1' ? '' : '1' }));
    const chatOK = answer.room.isChatAllowed && answer.grants.canPublishData;
    $('#btn-chat').hidden = !answer.room.isChatAllowed;
    $('#btn-chat').onclick = () => { $('#chat').hidden = !$('#chat').hidden; };
    $('#chat-form').hidden = !chatOK;
    $('#chat-form').onsubmit = (ev) => {
      ev.preventDefault();
      const text = $('#chat-input').value.trim();
      if (!text) return;
      lp.publishData(new TextEncoder().encode(JSON.stringify({ type: 'chat', text })), { reliable: true });
      addChat(answer.name + ' (you)', text);
      $('#chat-input').value = '';
    };
    $('#btn-leave').onclick = leave;
  }

  function onData(payload, participant) {
    let m;
    try { m = JSON.parse(new TextDecoder().decode(payload)); } catch (_) { return; }
    if (m.type === 'chat' && typeof m.text === 'string') addChat(participant ? (participant.name || participant.identity) : 'system', m.text.slice(0, 2000));
  }

  function addChat(who, text) {
    const li = document.createElement('li');
    const b = document.createElement('strong');
    b.textContent = who + ': ';
    li.append(b, document.createTextNode(text));
    $('#chat-log').append(li);
    $('#chat-log').scrollTop = 1e9;
    if ($('#chat').hidden) $('#btn-chat').classList.add('unread');
  }

  function initials(name) {
    return (name || '?').split(/\s+/).map((w) => w[0]).join('').slice(0, 2).toUpperCase();
  }

  function tile(p, local) {
    let el = document.getElementById('tile-' + p.identity);
    if (!el) {
      el = document.createElement('figure');
      el.className = 'tile';
      el.id = 'tile-' + p.identity;
      el.innerHTML = '<video autoplay playsinline muted></video><div class="avatar"></div><figcaption><span class="name"></span><span class="mic" aria-hidden="true"></span></figcaption>';
      $('#grid').append(el);
    }
    const cam = p.getTrackPublication(LK.Track.Source.ScreenShare) || p.getTrackPublication(LK.Track.Source.Camera);
    const video = el.querySelector('video');
    const on = cam && cam.track && !cam.isMuted;
    if (on && video.dataset.sid !== cam.trackSid) { cam.track.attach(video); video.dataset.sid = cam.trackSid; }
    video.hidden = !on;
    el.querySelector('.avatar').textContent = initials(p.name || p.identity);
    el.querySelector('.avatar').hidden = on;
    el.querySelector('.name').textContent = (p.name || p.identity) + (local ? ' (you)' : '');
    const mic = p.getTrackPublication(LK.Track.Source.Microphone);
    el.classList.toggle('muted', !mic || mic.isMuted);
    el.classList.toggle('speaking', p.isSpeaking);
    el.classList.toggle('hand', !!(p.attributes && p.attributes.hand === '1'));
    if (!local && answer.grants && answer.grants.roomAdmin && !el.querySelector('.mod')) moderation(el, p);
    if (!local && mic && mic.track && !mic.isMuted) {
      let a = el.querySelector('audio');
      if (!a) { a = mic.track.attach(); el.append(a); }
    }
    return el;
  }

  // Moderators mute and remove others through the edge's RoomService.
  function moderation(el, p) {
    const box = document.createElement('div');
    box.className = 'mod';
    const who = p.name || p.identity;
    const btn = (label, text, fn) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'tool small';
      b.setAttribute('aria-label', label + ' ' + who);
      b.textContent = text;
      b.onclick = () => fn().catch((e) => setStatus(String(e && e.message || e)));
      box.append(b);
    };
    btn('Mute', 'Mute', async () => {
      const mic = p.getTrackPublication(LK.Track.Source.Microphone);
      if (mic) await roomService('MutePublishedTrack', { identity: p.identity, track_sid: mic.trackSid, muted: true });
    });
    btn('Remove', 'Remove', () => roomService('RemoveParticipant', { identity: p.identity }));
    el.append(box);
  }

  async function roomService(method, body) {
    const base = answer.edge.url.replace(/^ws/, 'http').replace(/\/+$/, '');
    const r = await fetch(base + '/twirp/livekit.RoomService/' + method, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + answer.mediaToken },
      body: JSON.stringify(Object.assign({ room: answer.room.id }, body)),
    });
    if (!r.ok) throw new Error(method + ' failed (' + r.status + ')');
  }

  function render() {
    if (!room) return;
    const keep = new Set();
    keep.add(tile(room.localParticipant, true).id);
    for (const p of room.remoteParticipants.values()) keep.add(tile(p, false).id);
    for (const el of [...$('#grid').children]) if (!keep.has(el.id)) el.remove();
    $('#grid').dataset.count = String(keep.size);
    const lp = room.localParticipant;
    $('#btn-mic').setAttribute('aria-pressed', String(!lp.isMicrophoneEnabled));
    $('#btn-mic').setAttribute('aria-label', lp.isMicrophoneEnabled ? 'Mute microphone' : 'Unmute microphone');
    $('#btn-cam').setAttribute('aria-pressed', String(!lp.isCameraEnabled));
    $('#btn-cam').setAttribute('aria-label', lp.isCameraEnabled ? 'Turn camera off' : 'Turn camera on');
    $('#btn-screen').setAttribute('aria-pressed', String(lp.isScreenShareEnabled));
    const up = !!(lp.attributes && lp.attributes.hand === '1');
    $('#btn-hand').setAttribute('aria-pressed', String(up));
    $('#btn-hand').setAttribute('aria-label', up ? 'Lower hand' : 'Raise hand');
  }

  // Test and embedding probe: decoded frames per remote video.
  window.__spacecast = {
    timing: () => ({ loadToJoinedMs: stats.joinedAt ? stats.joinedAt - stats.loadedAt : null }),
    async stats() {
      const out = { framesDecoded: 0, audioPackets: 0, microphoneEnabled: room ? room.localParticipant.isMicrophoneEnabled : false };
      if (!room) return out;
      for (const p of room.remoteParticipants.values()) {
        for (const pub of p.trackPublications.values()) {
          if (!pub.track || !pub.track.getRTCStatsReport) continue;
          const rep = await pub.track.getRTCStatsReport();
          if (!rep) continue;
          rep.forEach((s) => {
            if (s.type !== 'inbound-rtp') return;
            if (s.kind === 'video') out.framesDecoded += s.framesDecoded || 0;
            if (s.kind === 'audio') out.audioPackets += s.packetsReceived || 0;
          });
        }
      }
      return out;
    },
  };

  // --- pre-join ----------------------------------------------------------------------
  async function preview() {
    if (!navigator.mediaDevices) return;
    try {
      const s = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      $('#preview').srcObject = s;
      window.addEventListener('pagehide', () => s.getTracks().forEach((t) => t.stop()));
      $('#pre-join').addEventListener('submit', () => s.getTracks().forEach((t) => t.stop()), { once: true });
    } catch (_) { $('#preview').hidden = true; }
  }

  async function start() {
    emit('ready', {});
    const name = params.get('participantName') || '';
    $('#pre-name').value = name;
    $('#pre-name-row').hidden = !!name || !!params.get('accessToken') && !!name;
    show('prejoin');
    preview();
    $('#pre-join').onsubmit = async (ev) => {
      ev.preventDefault();
      $('#pre-join-btn').disabled = true;
      setStatus('Joining…');
      try {
        answer = await join($('#pre-name').value.trim() || name);
        await connect();
        setStatus('');
      } catch (e) {
        setStatus('');
        showNotice(e && e.code, e && e.message);
      }
    };
    if (params.get('autojoin') === '1') $('#pre-join-btn').click();
  }
  // ?probe=1: log the page state to the console once a second, for the
  // browser tests (tests/browser) that read Chromium's console.
  if (params.get('probe') === '1') {
    setInterval(async () => {
      const vis = [...document.querySelectorAll('.screen')].find((s) => !s.hidden);
      const st = await window.__spacecast.stats();
      const pub = ['#btn-mic', '#btn-cam', '#btn-screen'].filter((b) => { const e = $(b); return e && !e.hidden; }).length;
      console.log('SPACECAST ' + JSON.stringify({ screen: vis ? vis.id : '', code: $('#notice').dataset.code || '',
        framesDecoded: st.framesDecoded, publishControls: pub,
        moderatorControls: document.querySelectorAll('#grid .mod').length, handsRaised: document.querySelectorAll('#grid .tile.hand').length, toolbarReady, role: answer ? answer.role : '', microphoneEnabled: st.microphoneEnabled, loadToJoinedMs: window.__spacecast.timing().loadToJoinedMs }));
    }, 1000);
  }
  start();
})();
