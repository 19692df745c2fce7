// The waiting room, both sides: the waiter's screen, which long-polls the
// control plane with its ticket until a moderator lets it in or refuses
// it, and the moderators' list of who waits (admit, refuse, each or all),
// which long-polls the room's waiting list with the moderator's session.
import { answered, JoinError, type JoinAnswer, type Session, type WaitingAnswer } from './api';
import type { RTTs } from './regions';
import { $, setStatus, show } from './dom';

/**
 * Tickets keeps the waiter's ticket in sessionStorage, so a reload of the
 * waiting screen takes its place back (the link that bought it is spent).
 */
export class Tickets {
  private readonly key: string;
  constructor(alias: string) {
    this.key = 'spacecast.waiting.' + alias;
  }
  get(): string | null {
    try {
      return sessionStorage.getItem(this.key);
    } catch {
      return null;
    }
  }
  set(ticket: string): void {
    try {
      sessionStorage.setItem(this.key, ticket);
    } catch {
      /* storage blocked: a reload loses the place */
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitPath(alias: string): string {
  return '/v1/rooms/' + encodeURIComponent(alias) + '/wait';
}

/**
 * poll asks about the place of ticket: the server holds the answer while
 * nothing changes, up to wait seconds (its longest by default).
 */
async function poll(alias: string, ticket: string, session: Session, wait?: number, signal?: AbortSignal, rtts?: RTTs): Promise<JoinAnswer | WaitingAnswer> {
  const r = await fetch(waitPath(alias), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // The RTTs place the participant once admitted, as a join's would.
    body: JSON.stringify({ ticket, wait, rtts }),
    cache: 'no-store',
    signal,
  });
  return answered(r, session);
}

/** resume takes back the place of a ticket kept across a reload. */
export function resume(alias: string, ticket: string, session: Session, rtts?: RTTs): Promise<JoinAnswer | WaitingAnswer> {
  return poll(alias, ticket, session, 0, undefined, rtts);
}

/**
 * Waiter is a participant in the waiting room: the waiting screen until a
 * moderator decides. The page is there while it polls; leaving the screen
 * gives the place up (for good with the Leave button; for a few seconds,
 * to come back, when the page closes or reloads).
 */
export class Waiter {
  private left = false;
  private readonly abort = new AbortController();
  private readonly onHide = (): void => this.beacon();

  constructor(
    private readonly alias: string,
    private readonly tickets: Tickets,
    private readonly session: Session,
    private readonly rtts?: RTTs,
  ) {}

  /** admitted shows the waiting screen and resolves with the join answer. */
  async admitted(w: WaitingAnswer): Promise<JoinAnswer> {
    this.tickets.set(w.ticket);
    this.render(w);
    show('waiting');
    window.addEventListener('pagehide', this.onHide);
    $<HTMLButtonElement>('#waiting-leave').onclick = () => void this.leave();
    let failures = 0;
    try {
      for (;;) {
        let a: JoinAnswer | WaitingAnswer;
        try {
          a = await poll(this.alias, w.ticket, this.session, undefined, this.abort.signal, this.rtts);
        } catch (e) {
          if (this.left) throw new JoinError('waiting_left');
          if (e instanceof JoinError) throw e;
          // The network: try again, a little later each time.
          failures++;
          setStatus('Reconnecting…', 'reconnecting');
          await sleep(Math.min(1000 * failures, 5000));
          continue;
        }
        failures = 0;
        setStatus('');
        if (a.status === 'joined') return a;
        this.render(a);
      }
    } finally {
      window.removeEventListener('pagehide', this.onHide);
      this.tickets.clear();
    }
  }

  private render(w: WaitingAnswer): void {
    $('#waiting-room').textContent = w.room.name;
    $('#waiting-name').textContent = w.name;
    const since = new Date(w.since);
    $('#waiting-since').textContent = since.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    $('#waiting-since').setAttribute('datetime', w.since);
  }

  /** leave gives the place up for good. */
  private async leave(): Promise<void> {
    this.left = true;
    this.abort.abort();
    const ticket = this.tickets.get();
    this.tickets.clear();
    if (ticket) {
      await fetch(waitPath(this.alias) + '/leave', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ticket }),
        keepalive: true,
      }).catch(() => undefined);
    }
  }

  /** beacon tells the page closes or reloads: the place is kept briefly. */
  private beacon(): void {
    const ticket = this.tickets.get();
    if (!ticket) return;
    const body = new Blob([JSON.stringify({ ticket, reconnect: true })], { type: 'application/json' });
    navigator.sendBeacon(waitPath(this.alias) + '/leave', body);
  }
}

interface Entry {
  id: string;
  name: string;
  guest: boolean;
  since: string;
}

/**
 * Lobby is the moderators' list of who waits, in the call screen: shown
 * while someone waits, updated as people come, go and are decided on.
 */
export class Lobby {
  private stopped = false;
  private version = '';
  private entries: Entry[] = [];
  private readonly path: string;

  /** token is the moderator's current session credential. */
  constructor(
    room: { id: string; spaceId: string },
    private readonly token: () => string,
  ) {
    this.path = '/v1/spaces/' + encodeURIComponent(room.spaceId) + '/rooms/' + encodeURIComponent(room.id) + '/waiting';
  }

  /** names are who the list shows (the page's probe). */
  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  start(): void {
    $<HTMLButtonElement>('#lobby-admit-all').onclick = () => void this.act('/admit-all');
    $<HTMLButtonElement>('#lobby-refuse-all').onclick = () => void this.act('/refuse-all', true);
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    $('#lobby').hidden = true;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const q = this.version ? '?after=' + encodeURIComponent(this.version) : '';
        const r = await fetch(this.path + q, { headers: { authorization: 'Bearer ' + this.token() }, cache: 'no-store' });
        if (r.status === 401 || r.status === 403 || r.status === 404) {
          this.stop(); // not (or no longer) a moderator of this room
          return;
        }
        if (!r.ok) throw new Error('waiting list: ' + r.status);
        const list = (await r.json()) as { items: Entry[]; version: string };
        failures = 0;
        this.version = list.version;
        this.entries = list.items;
        if (!this.stopped) this.render();
      } catch {
        failures++;
        await sleep(Math.min(1000 * failures, 5000));
      }
    }
  }

  private render(): void {
    const box = $('#lobby');
    box.hidden = this.entries.length === 0;
    $('#lobby-count').textContent = String(this.entries.length);
    const now = Date.now();
    $('#lobby-list').replaceChildren(
      ...this.entries.map((e) => {
        const li = document.createElement('li');
        li.dataset.id = e.id;
        const who = document.createElement('div');
        who.className = 'who';
        const name = document.createElement('strong');
        name.textContent = e.name;
        const since = document.createElement('time');
        since.dateTime = e.since;
        const mins = Math.max(0, Math.floor((now - Date.parse(e.since)) / 60000));
        since.textContent = mins < 1 ? 'just now' : mins + ' min';
        since.title = 'Waiting since ' + new Date(e.since).toLocaleTimeString();
        who.append(name, since);
        const admit = this.button('admit', 'Admit', e, () => this.act('/' + e.id + '/admit'));
        const refuse = this.button('refuse', 'Refuse', e, () => this.act('/' + e.id + '/refuse', true));
        li.append(who, admit, refuse);
        return li;
      }),
    );
  }

  private button(action: string, text: string, e: Entry, fn: () => Promise<void>): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'chip';
    b.dataset.action = action;
    b.textContent = text;
    b.setAttribute('aria-label', text + ' ' + e.name);
    b.onclick = () => {
      b.disabled = true;
      void fn().finally(() => (b.disabled = false));
    };
    return b;
  }

  /** act admits or refuses (with the reason typed, if any). */
  private async act(path: string, refusal = false): Promise<void> {
    const reason = refusal ? $<HTMLInputElement>('#lobby-reason').value.trim() : '';
    const r = await fetch(this.path + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + this.token() },
      body: refusal && reason ? JSON.stringify({ reason }) : '',
    }).catch(() => null);
    if (!r || !r.ok) {
      const a = (await r?.json().catch(() => ({}))) as { message?: string } | undefined;
      setStatus(a?.message || 'Could not reach the server', 'error', 4000);
    }
  }
}
