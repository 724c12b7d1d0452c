/**
 * The local stack's per-request observations: what the endpoint functions report of each request
 * (model version, rows, time in the model), kept briefly so the local server can print its access
 * log line once the answer is sent. On Lambda the same observations become EMF metrics instead.
 */
import type { RequestObservation, RequestObserver } from '../functions/core/observability.js';

/**
 * @example
 * const observations = new LocalObservations();
 * makePredictHandler({ service, limits, observer: observations });
 * // after the handler answered request `id`:
 * observations.take(id); // { model: 'iris', modelVersion: '1', rows: 2, ... } or undefined
 */
export class LocalObservations implements RequestObserver {
  private readonly byRequest = new Map<string, RequestObservation>();

  constructor(private readonly capacity = 1_000) {}

  observe(observation: RequestObservation): void {
    if (this.byRequest.size >= this.capacity) {
      // Requests never picked up (an answer that could not be sent): the oldest go first.
      const oldest = this.byRequest.keys().next().value;
      if (oldest !== undefined) this.byRequest.delete(oldest);
    }
    this.byRequest.set(observation.requestId, observation);
  }

  /** The observation of `requestId`, removed from the store; undefined when none was made. */
  take(requestId: string): RequestObservation | undefined {
    const found = this.byRequest.get(requestId);
    if (found) this.byRequest.delete(requestId);
    return found;
  }
}
