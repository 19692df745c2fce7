// Shared by the bench's pages: one console line per event, "LKT <kind>
// <JSON>", which the bench reads from Chromium's stderr; the page's
// settings come from /session/<id> (the id in ?s=), so no token is on a
// command line.
"use strict";
window.benchLog = (kind, v) => console.log("LKT " + kind + " " + JSON.stringify(v === undefined ? null : v));
window.addEventListener("error", (e) => benchLog("error", { msg: String(e.message), src: e.filename, line: e.lineno }));
window.addEventListener("unhandledrejection", (e) => benchLog("error", { msg: String((e.reason && e.reason.stack) || e.reason) }));

// benchMain fetches the session and runs body(cfg, log).
window.benchMain = async (body) => {
  try {
    if (typeof LivekitClient === "undefined") throw new Error("livekit-client did not load from /lk.js");
    const id = new URLSearchParams(location.search).get("s");
    const res = await fetch("/session/" + encodeURIComponent(id));
    if (!res.ok) throw new Error("session " + id + ": HTTP " + res.status);
    await body(await res.json(), benchLog);
  } catch (e) {
    benchLog("error", { msg: String((e && e.stack) || e) });
  }
};

// benchRoomEvents logs what the room goes through (for the run's log).
window.benchRoomEvents = (room, t0) => {
  const E = LivekitClient.RoomEvent;
  const ms = () => performance.now() - t0;
  room.on(E.Disconnected, (r) => benchLog("room", { what: "disconnected", reason: r, ms: ms() }));
  room.on(E.Reconnecting, () => benchLog("room", { what: "reconnecting", ms: ms() }));
  room.on(E.Reconnected, () => benchLog("room", { what: "reconnected", ms: ms() }));
  room.on(E.SignalReconnecting, () => benchLog("room", { what: "signalReconnecting", ms: ms() }));
  room.on(E.MediaDevicesError, (e) => benchLog("error", { msg: "media devices: " + e }));
};

// benchCodecs maps codec stats ids to MIME types.
window.benchCodecs = (stats) => {
  const m = {};
  stats.forEach((r) => { if (r.type === "codec") m[r.id] = r.mimeType; });
  return m;
};

// benchPick copies the listed fields of a stats record that exist.
window.benchPick = (r, fields) => {
  const o = {};
  for (const f of fields) if (r[f] !== undefined) o[f] = r[f];
  return o;
};
