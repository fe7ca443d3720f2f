// The event bus: the engine publishes, consumers subscribe. Publishing stamps the envelope and
// calls each subscriber synchronously, in subscription order; subscribers must return at once
// (the plugin host only posts a message to a worker, the logger writes a line), so the engine
// is never delayed and every consumer sees events in publication order.
//
// A subscriber that throws is reported once per error and does not stop the others.

import { EVENT_SCHEMA_VERSION, type EventBody, type EventType, type VigilEvent } from './events.ts';
import { monoMicros } from '../clock.ts';

export type Subscriber = (e: VigilEvent) => void;

export interface Clock {
  /** Monotonic microseconds. */
  mono(): number;
  /** Wall clock, milliseconds since the epoch. */
  wall(): number;
}

export const systemClock: Clock = {
  mono: monoMicros,
  wall: () => Date.now(),
};

export class EventBus {
  private seq = 0;
  private readonly subscribers: Array<{ types: ReadonlySet<EventType> | null; fn: Subscriber }> = [];
  /** Subscriber errors, for status. */
  subscriberErrors = 0;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly onSubscriberError: (e: unknown) => void = () => undefined,
  ) {}

  /** Subscribe to some event types, or all of them; returns the unsubscribe function. */
  subscribe(fn: Subscriber, types?: readonly EventType[]): () => void {
    const entry = { types: types ? new Set(types) : null, fn };
    this.subscribers.push(entry);
    return () => {
      const i = this.subscribers.indexOf(entry);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  publish(body: EventBody): VigilEvent {
    const event = { ...body, v: EVENT_SCHEMA_VERSION, seq: ++this.seq, time: new Date(this.clock.wall()).toISOString(), mono: this.clock.mono() } as VigilEvent;
    for (const s of [...this.subscribers]) {
      if (s.types && !s.types.has(event.type)) continue;
      try {
        s.fn(event);
      } catch (e) {
        this.subscriberErrors++;
        this.onSubscriberError(e);
      }
    }
    return event;
  }

  /** The sequence number of the last event published. */
  get lastSeq(): number {
    return this.seq;
  }
}
