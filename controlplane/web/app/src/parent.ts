// The embedding parent window: typed events out, commands in, both only
// with the allowed origins (see docs/embedding.md).

export type Command = 'mute-microphone' | 'unmute-microphone' | 'mute-camera' | 'unmute-camera' | 'leave';

const commands: ReadonlySet<string> = new Set<Command>([
  'mute-microphone',
  'unmute-microphone',
  'mute-camera',
  'unmute-camera',
  'leave',
]);

export class Parent {
  constructor(private readonly origins: readonly string[]) {}

  /** post sends msg to the parent, addressed to each allowed origin. */
  post(msg: unknown): void {
    if (window.parent === window) return;
    for (const o of this.origins.length ? this.origins : [location.origin]) {
      try {
        window.parent.postMessage(msg, o);
      } catch {
        /* an origin that is not a valid target */
      }
    }
  }

  /** emit posts {type: 'spacecast:<type>', ...detail}. */
  emit(type: string, detail: Record<string, unknown> = {}): void {
    this.post({ type: 'spacecast:' + type, ...detail });
  }

  /** listen calls fn with each command the direct parent sends from an allowed origin. */
  listen(fn: (c: Command) => void): void {
    window.addEventListener('message', (ev: MessageEvent) => {
      if (ev.source !== window.parent || window.parent === window) return;
      if (!this.origins.includes(ev.origin) && ev.origin !== location.origin) return;
      const m = ev.data as { type?: unknown; command?: unknown } | null;
      if (!m || m.type !== 'spacecast:command' || typeof m.command !== 'string') return;
      if (commands.has(m.command)) fn(m.command as Command);
    });
  }
}
