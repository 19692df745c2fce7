// The control plane's side of the page: redeem the link (or an embed
// token, a refresh token, the session of an earlier join) for a join
// answer.
import type { RTTs } from './regions';

export interface Grants {
  canPublish: boolean;
  canPublishSources: string[] | null;
  canSubscribe: boolean;
  canPublishData: boolean;
  canUpdateOwnMetadata: boolean;
  roomAdmin: boolean;
  hidden: boolean;
  /** canRecord: may start and stop the room's recording (LiveKit's roomRecord). */
  canRecord?: boolean;
}

export interface RoomView {
  id: string;
  spaceId: string;
  name: string;
  type: string;
  isChatAllowed: boolean;
  isScreensharingAllowed: boolean;
  isCameraPublishingAllowed: boolean;
  isMicrophonePublishingAllowed: boolean;
  isHandRaisingAllowed: boolean;
  redirectUrl: string;
}

export interface JoinAnswer {
  status: 'joined';
  identity: string;
  name: string;
  role: string;
  grants: Grants;
  room: RoomView;
  session: { token: string; expiresAt: string };
  edge: { url: string; region: string; nodeId: string };
  mediaToken: string;
  iceServers: RTCIceServer[] | null;
}

/**
 * WaitingAnswer is a join's answer (HTTP 202) when the room's waiting room
 * holds the participant: no media token yet, a ticket to wait with.
 */
export interface WaitingAnswer {
  status: 'waiting';
  id: string;
  ticket: string;
  identity: string;
  name: string;
  role: string;
  since: string;
  room: RoomView;
  pollSeconds: number;
}

/** JoinError carries the control plane's error code (access_link_used, …). */
export class JoinError extends Error {
  constructor(
    readonly code: string,
    message?: string,
  ) {
    super(message || code);
  }
}

interface JoinBody {
  participantName?: string;
  rtts?: RTTs;
  sessionToken?: string;
  accessToken?: string;
  embedToken?: string;
}

function codeOf(status: number): string {
  switch (status) {
    case 404:
      return 'not_found';
    case 403:
      return 'forbidden';
    case 401:
      return 'unauthorized';
    default:
      return 'error';
  }
}

/**
 * Session remembers the reconnect credential of the last join in
 * sessionStorage, so a reload or a reconnect does not need the spent link.
 */
export class Session {
  private readonly key: string;
  constructor(alias: string) {
    this.key = 'spacecast.session.' + alias;
  }
  get(): string | null {
    try {
      return sessionStorage.getItem(this.key);
    } catch {
      return null; // storage blocked (a sandboxed or third-party frame)
    }
  }
  set(token: string): void {
    try {
      sessionStorage.setItem(this.key, token);
    } catch {
      /* storage blocked: reconnects then need the link again */
    }
  }
  clear(): void {
    try {
      sessionStorage.removeItem(this.key);
    } catch {
      /* storage blocked */
    }
  }
}

/**
 * join calls POST /v1/rooms/{alias}/join, with the regions' RTTs if
 * measured. The answer is a join answer, or a place in the room's waiting
 * room.
 */
export async function join(alias: string, params: URLSearchParams, session: Session, name: string, rtts?: RTTs): Promise<JoinAnswer | WaitingAnswer> {
  const body: JoinBody = { participantName: name || undefined, rtts };
  const saved = session.get();
  if (saved) body.sessionToken = saved;
  else if (params.get('accessToken')) body.accessToken = params.get('accessToken') ?? undefined;
  else if (params.get('embedToken')) body.embedToken = params.get('embedToken') ?? undefined;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // A refresh token in the URL is the reference's background sign-in
  // (deprecated: an embed token is the way). Refresh tokens rotate, so it
  // works once: the integrator must give the page a sign-in of its own.
  const refresh = params.get('refreshToken');
  if (refresh && !body.sessionToken && !body.accessToken && !body.embedToken) {
    const r = await fetch('/v1/auth/token', {
      method: 'POST',
      headers,
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: refresh }),
    });
    const t = (await r.json().catch(() => ({}))) as { access_token?: string };
    if (!r.ok || !t.access_token) throw new JoinError('unauthorized');
    headers.authorization = 'Bearer ' + t.access_token;
  }
  const r = await fetch('/v1/rooms/' + encodeURIComponent(alias) + '/join', {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  return answered(r, session, () => {
    if (body.sessionToken) session.clear();
  });
}

/**
 * answered reads the answer of a join or a waiter's poll: the join answer
 * (its session kept for reconnects), a place in the waiting room (202), or
 * a JoinError (refused is called first).
 */
export async function answered(r: Response, session: Session, refused?: () => void): Promise<JoinAnswer | WaitingAnswer> {
  const a = (await r.json().catch(() => ({}))) as Partial<JoinAnswer> & { code?: string; message?: string };
  if (!r.ok) {
    refused?.();
    throw new JoinError(a.code || codeOf(r.status), a.message);
  }
  if (r.status === 202) return a as unknown as WaitingAnswer;
  const answer = a as JoinAnswer;
  if (answer.session && answer.session.token) session.set(answer.session.token);
  return answer;
}

/** can tells whether the join answer lets the participant publish source. */
export function can(a: JoinAnswer, source: 'camera' | 'microphone' | 'screen_share'): boolean {
  const g = a.grants;
  if (!g || !g.canPublish) return false;
  const s = g.canPublishSources;
  return !s || s.length === 0 || s.includes(source);
}
