/** Settles with `promise`, or rejects with the signal's reason as soon as `signal` aborts. */
export function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error('non-Error rejection'));
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * At most one run per key at a time; callers with the same key join the running one.
 * A caller that aborts leaves without disturbing the others; the run itself is aborted only
 * when its last caller has left (or on abortAll), and a new caller then starts a new run.
 */
export class SharedFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  has(key: string): boolean {
    return this.#flights.has(key);
  }

  run(key: string, start: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const flight = this.#flights.get(key) ?? this.#start(key, start);
    flight.waiters += 1;
    return waitFor(flight.promise, signal).finally(() => {
      flight.waiters -= 1;
      if (flight.waiters === 0 && this.#flights.get(key) === flight) {
        this.#flights.delete(key);
        flight.controller.abort();
      }
    });
  }

  abortAll(reason: Error): void {
    for (const flight of this.#flights.values()) flight.controller.abort(reason);
    this.#flights.clear();
  }

  #start(key: string, start: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const controller = new AbortController();
    const promise = (async () => start(controller.signal))();
    const flight: Flight<T> = { promise, controller, waiters: 0 };
    this.#flights.set(key, flight);
    // Every waiter handles the outcome; this handler only keeps a run whose waiters all left
    // from becoming an unhandled rejection, and forgets the run once it has settled.
    promise.then(
      () => {
        this.#forget(key, flight);
      },
      () => {
        this.#forget(key, flight);
      },
    );
    return flight;
  }

  #forget(key: string, flight: Flight<T>): void {
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }
}
